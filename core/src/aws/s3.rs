//! Task artifacts in S3.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use futures_util::{stream, StreamExt, TryStreamExt};

use crate::artifacts::{Artifacts, Chunk, Listing, Stored};
use crate::error::{Error, Result};

/// Files larger than this are uploaded in parts of this size.
pub const MULTIPART_PART_BYTES: u64 = 8 * 1024 * 1024;

/// Parts of one upload sent at once: as the AWS CLI does (it sends ten), a
/// large output is not held to one round trip at a time.
const PARTS_IN_FLIGHT: usize = 4;

#[derive(Clone)]
pub struct S3Artifacts {
    client: Client,
    bucket: String,
}

impl S3Artifacts {
    pub fn new(client: Client, bucket: &str) -> Self {
        S3Artifacts {
            client,
            bucket: bucket.to_owned(),
        }
    }
}

#[async_trait]
impl Artifacts for S3Artifacts {
    async fn put_bytes(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| Error::aws("PutObject", e))?;
        Ok(())
    }

    async fn put_file(&self, key: &str, path: &Path) -> Result<()> {
        let size = tokio::fs::metadata(path).await?.len();
        if size <= MULTIPART_PART_BYTES {
            let body = ByteStream::from_path(path)
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(body)
                .send()
                .await
                .map_err(|e| Error::aws("PutObject", e))?;
            return Ok(());
        }
        let upload_id = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| Error::aws("CreateMultipartUpload", e))?
            .upload_id
            .ok_or_else(|| Error::Corrupt("CreateMultipartUpload returned no upload id".into()))?;
        let result = self.upload_parts(key, &upload_id, path).await;
        if result.is_err() {
            // Leave no half-finished upload behind; the original error is
            // the one worth reporting.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn get_from(&self, key: &str, offset: u64, limit: u64) -> Result<Option<Chunk>> {
        let last = offset.saturating_add(limit.max(1) - 1);
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={offset}-{last}"));
        let output = match request.send().await {
            Ok(output) => output,
            Err(err) => {
                let service = err.as_service_error();
                if service.is_some_and(|e| e.is_no_such_key()) {
                    return Ok(None);
                }
                // Reading at or past the end of an object is an empty read.
                if err
                    .raw_response()
                    .is_some_and(|r| r.status().as_u16() == 416)
                {
                    let total_size = self.size(key).await?.unwrap_or(offset);
                    return Ok(Some(Chunk {
                        data: Vec::new(),
                        total_size,
                    }));
                }
                return Err(Error::aws("GetObject", err));
            }
        };
        let total_size = match output.content_range() {
            Some(range) => range
                .rsplit('/')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_default(),
            None => output.content_length().unwrap_or_default() as u64,
        };
        let data = output
            .body
            .collect()
            .await
            .map_err(|e| Error::Aws {
                operation: "GetObject",
                message: crate::error::error_chain(&e),
                transient: true,
            })?
            .to_vec();
        Ok(Some(Chunk { data, total_size }))
    }

    async fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize) -> Result<Listing> {
        let page = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_owned))
            .max_keys(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(|e| Error::aws("ListObjectsV2", e))?;
        let objects = page
            .contents()
            .iter()
            .filter_map(|object| {
                Some(Stored {
                    key: object.key()?.to_owned(),
                    size: object.size().unwrap_or_default().max(0) as u64,
                })
            })
            .collect();
        Ok(Listing {
            objects,
            more: page.is_truncated().unwrap_or(false),
        })
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        let mut deleted = 0;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Error::aws("ListObjectsV2", e))?;
            let objects = page
                .contents()
                .iter()
                .filter_map(|object| object.key())
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Error::request("DeleteObjects", e))?;
            if objects.is_empty() {
                continue;
            }
            deleted += objects.len();
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .build()
                .map_err(|e| Error::request("DeleteObjects", e))?;
            self.client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| Error::aws("DeleteObjects", e))?;
        }
        Ok(deleted)
    }

    async fn presign_get(&self, key: &str, expires: Duration) -> Result<String> {
        let config = PresigningConfig::expires_in(expires)
            .map_err(|e| Error::request("PresignGetObject", e))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| Error::aws("PresignGetObject", e))?;
        Ok(request.uri().to_string())
    }
}

impl S3Artifacts {
    /// Uploads the file's parts, [`PARTS_IN_FLIGHT`] at a time (each held
    /// in memory while it is sent), and completes the upload.
    async fn upload_parts(&self, key: &str, upload_id: &str, path: &Path) -> Result<()> {
        let file = Arc::new(std::fs::File::open(path)?);
        let size = file.metadata()?.len();
        let uploads = (0..size.div_ceil(MULTIPART_PART_BYTES)).map(|index| {
            let file = file.clone();
            async move {
                let offset = index * MULTIPART_PART_BYTES;
                let length = MULTIPART_PART_BYTES.min(size - offset) as usize;
                let read = tokio::task::spawn_blocking(move || {
                    let mut buffer = vec![0; length];
                    file.read_exact_at(&mut buffer, offset).map(|()| buffer)
                });
                let buffer = read.await.map_err(std::io::Error::other)??;
                let part_number = index as i32 + 1;
                let part = self
                    .client
                    .upload_part()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .part_number(part_number)
                    .body(ByteStream::from(buffer))
                    .send()
                    .await
                    .map_err(|e| Error::aws("UploadPart", e))?;
                Ok::<_, Error>(
                    CompletedPart::builder()
                        .part_number(part_number)
                        .set_e_tag(part.e_tag)
                        .build(),
                )
            }
        });
        let parts: Vec<CompletedPart> = stream::iter(uploads)
            .buffered(PARTS_IN_FLIGHT)
            .try_collect()
            .await?;
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| Error::aws("CompleteMultipartUpload", e))?;
        Ok(())
    }

    /// The size of an object, `None` if it does not exist.
    async fn size(&self, key: &str) -> Result<Option<u64>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => Ok(Some(output.content_length().unwrap_or_default() as u64)),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(Error::aws("HeadObject", err)),
        }
    }
}
