//! The page shells: layout, navigation, sign-in, and the empty regions the
//! console's script fills with fragments. They hold no data, so they need
//! no token; each has a stable address to link to.

use axum::extract::Path;
use clap::ValueEnum;
use maud::{html, Markup, DOCTYPE};
use wharf_core::model::Status;

use super::render::{html_response, HtmlResponse};

#[derive(Clone, Copy, PartialEq)]
enum Section {
    Tasks,
    Workers,
    Queues,
}

/// `/console`: tasks, newest first, with filters (deep links keep them in
/// the query string: `/console?status=failed`, an array's children
/// `/console?parent=ID`).
pub async fn tasks() -> HtmlResponse {
    page(
        "Tasks",
        Section::Tasks,
        None,
        html! {
            h1 { "Tasks" }
            form #filters .filters role="search" aria-label="Filter tasks" {
                label { "Status "
                    select name="status" {
                        option value="" { "any" }
                        @for status in Status::value_variants() {
                            option value=(status) { (status) }
                        }
                    }
                }
                label { "Queue " input name="queue" type="text" autocomplete="off" size="10"; }
                label { "Name " input name="name" type="text" autocomplete="off" size="14"; }
                label { "Label " input name="label" type="text" autocomplete="off" size="14" placeholder="key=value"; }
                label { "Parent " input name="parent" type="text" autocomplete="off" size="14" placeholder="array's task id"; }
                button type="submit" { "Filter" }
                label .refresh { input #auto-refresh type="checkbox" checked; " auto-refresh" }
            }
            p #status-line role="status" {}
            div #fragment data-fragment="tasks" aria-live="polite" {}
        },
    )
}

/// `/console/tasks/{id}`: one task, its attempts, live log and outputs.
pub async fn task(Path(id): Path<String>) -> HtmlResponse {
    page(
        "Task",
        Section::Tasks,
        Some(&id),
        html! {
            p { a href="/console" { "← Tasks" } }
            p #status-line role="status" {}
            div #fragment data-fragment="task" aria-live="polite" {}
            section aria-labelledby="log-heading" {
                h2 #log-heading { "Log" }
                p #log-state .muted {}
                pre #log .log tabindex="0" {}
            }
        },
    )
}

/// `/console/workers`: the worker hosts, their slots and resources.
pub async fn workers() -> HtmlResponse {
    page(
        "Workers",
        Section::Workers,
        None,
        html! {
            h1 { "Workers" }
            p #status-line role="status" {}
            div #fragment data-fragment="workers" aria-live="polite" {}
        },
    )
}

/// `/console/queues`: each queue's messages, with a chart of the last
/// minutes sampled by the page.
pub async fn queues() -> HtmlResponse {
    page(
        "Queues",
        Section::Queues,
        None,
        html! {
            h1 { "Queues" }
            p #status-line role="status" {}
            div #fragment data-fragment="queues" aria-live="polite" {}
            section aria-labelledby="chart-heading" {
                h2 #chart-heading { "Visible and in flight, last 10 minutes" }
                p .muted { "Sampled by this page every 5 seconds while it is open." }
                div #charts {}
            }
        },
    )
}

/// The layout every page shares: navigation, the sign-in form (shown by
/// the script while no token is held) and the page's own content.
fn page(title: &str, section: Section, task: Option<&str>, content: Markup) -> HtmlResponse {
    let nav = [
        (Section::Tasks, "/console", "Tasks"),
        (Section::Workers, "/console/workers", "Workers"),
        (Section::Queues, "/console/queues", "Queues"),
    ];
    html_response(html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · Wharf" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body data-task=[task] {
                a .skip href="#main" { "Skip to content" }
                header .top {
                    a .brand href="/console" { "Wharf" }
                    nav aria-label="Console" {
                        ul {
                            @for (each, href, label) in nav {
                                li {
                                    @if each == section {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    button #sign-out type="button" hidden { "Sign out" }
                }
                main #main {
                    form #sign-in hidden {
                        h1 { "Sign in" }
                        p { "Give an API token (" code { "wharf admin token" } "). It stays in this tab only and is sent to this API alone." }
                        label for="token" { "API token" }
                        input #token name="token" type="password" autocomplete="off" required;
                        button type="submit" { "Sign in" }
                        p #sign-in-error .error role="alert" {}
                    }
                    div #signed-in hidden { (content) }
                }
            }
        }
    })
}
