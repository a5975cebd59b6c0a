//! The host's resources as the fleet view shows them, read with `sysinfo`.

use std::path::Path;

use sysinfo::{Disks, Networks, System};
use wharf_core::fleet::Resources;

/// Reads CPU, memory, the disk holding `work_dir`, and network totals.
pub fn read(work_dir: &Path) -> Resources {
    let mut system = System::new();
    system.refresh_memory();
    let disks = Disks::new_with_refreshed_list();
    // The disk mounted deepest above the work directory holds it.
    let disk = disks
        .list()
        .iter()
        .filter(|disk| work_dir.starts_with(disk.mount_point()))
        .max_by_key(|disk| disk.mount_point().components().count());
    let networks = Networks::new_with_refreshed_list();
    let (received, sent) = networks.iter().fold((0, 0), |(rx, tx), (_, data)| {
        (rx + data.total_received(), tx + data.total_transmitted())
    });
    Resources {
        cpu_cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        load_average: System::load_average().one,
        memory_total_bytes: system.total_memory(),
        memory_available_bytes: system.available_memory(),
        disk_total_bytes: disk.map_or(0, |d| d.total_space()),
        disk_available_bytes: disk.map_or(0, |d| d.available_space()),
        network_received_bytes: received,
        network_sent_bytes: sent,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_host_has_cores_memory_and_a_disk_under_its_temp_dir() {
        let resources = super::read(&std::env::temp_dir());
        assert!(resources.cpu_cores >= 1);
        assert!(resources.memory_total_bytes > resources.memory_available_bytes / 2);
        assert!(resources.memory_available_bytes > 0);
        assert!(resources.disk_total_bytes >= resources.disk_available_bytes);
        assert!(resources.disk_total_bytes > 0);
    }
}
