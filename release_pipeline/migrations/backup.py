"""Backups: ``pg_dump`` streamed to S3 in parts, read back, found again for a restore.

Memory stays at about two parts (one uploading, one filling) whatever the size
of the database: nothing is written to local disk and no dump is held whole.
The SHA-256 of the archive is computed on the way up, stored as an object tag
and checked on every read-back.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from release_pipeline.errors import BackupError
from release_pipeline.resources.postgres_target import PostgresTargetResource

PART_SIZE = 16 * 1024 * 1024  # S3's minimum part is 5 MiB; 10,000 parts make 160 GiB
MAX_PARTS = 10_000
READ_CHUNK = 1024 * 1024
KEY_PATTERN = re.compile(r"backup_\d{8}_\d{6}\.dump$")
SHA256_TAG = "sha256"
# Approvals are the audit trail: a restore must not roll them back, so they are not backed up.
EXCLUDED_SCHEMAS = ("release_pipeline_audit",)


@dataclass(frozen=True)
class Backup:
    """An archive in S3 and the facts that prove which one it is."""

    bucket: str
    key: str
    size: int
    sha256: str
    seconds: float = 0.0

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@contextlib.contextmanager
def s3_failures(what: str) -> Iterator[None]:
    """Reports an S3 client error as a BackupError that says what was being done."""
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise BackupError(f"S3 failed {what}: {exc}") from None


def backup_key(prefix: str, when: datetime) -> str:
    return f"{prefix}{when:backup_%Y%m%d_%H%M%S}.dump"


def take_backup(
    target_db: PostgresTargetResource, s3: Any, bucket: str, prefix: str, part_size: int = PART_SIZE
) -> Backup:
    """Streams ``pg_dump --format=custom`` to a new object; nothing is left behind on failure."""
    with s3_failures(f"the backup to s3://{bucket}/{prefix}"):
        return _take_backup(target_db, s3, bucket, prefix, part_size)


def _take_backup(
    target_db: PostgresTargetResource, s3: Any, bucket: str, prefix: str, part_size: int
) -> Backup:
    started = time.monotonic()
    key = _unused_key(s3, bucket, prefix)
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key=key, ContentType="application/octet-stream"
    )["UploadId"]
    try:
        with target_db.dump(EXCLUDED_SCHEMAS) as stream:
            parts, size, digest = _upload_parts(s3, bucket, key, upload_id, stream, part_size)
        if size == 0:
            raise BackupError(
                f"pg_dump of {target_db.describe()} exited 0 but wrote nothing; no backup was"
                " stored. Check the pg_dump binary and the database."
            )
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        _abort(s3, bucket, key, upload_id)
        raise
    s3.put_object_tagging(
        Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": SHA256_TAG, "Value": digest}]}
    )
    return Backup(bucket, key, size, digest, round(time.monotonic() - started, 3))


def _abort(s3: Any, bucket: str, key: str, upload_id: str) -> None:
    """Drops the parts of an unfinished upload; the failure that led here is the one reported."""
    with contextlib.suppress(BotoCoreError, ClientError):
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def _unused_key(s3: Any, bucket: str, prefix: str) -> str:
    """A key named after the current second that no backup uses yet."""
    for _ in range(3):
        key = backup_key(prefix, datetime.now(UTC))
        if find_backup(s3, bucket, key) is None:
            return key
        time.sleep(1.0 - datetime.now(UTC).microsecond / 1e6)
    raise BackupError(f"s3://{bucket}/{prefix}: every key tried was taken; retry in a moment.")


def _upload_parts(
    s3: Any, bucket: str, key: str, upload_id: str, stream: IO[bytes], part_size: int
) -> tuple[list[dict[str, Any]], int, str]:
    """Reads ``stream`` part by part while the previous part uploads on a second thread."""
    parts: list[dict[str, Any]] = []
    digest, size = hashlib.sha256(), 0
    with ThreadPoolExecutor(max_workers=1) as uploader:
        in_flight: Future | None = None
        while chunk := stream.read(part_size):
            digest.update(chunk)
            size += len(chunk)
            if in_flight is not None:
                parts.append(in_flight.result())
            if len(parts) >= MAX_PARTS:
                raise BackupError(f"The dump needs more than {MAX_PARTS} parts; raise PART_SIZE.")
            in_flight = uploader.submit(
                _upload_part, s3, bucket, key, upload_id, len(parts) + 1, chunk
            )
            del chunk  # only the uploader holds the part now
        if in_flight is not None:
            parts.append(in_flight.result())
    return parts, size, digest.hexdigest()


def _upload_part(
    s3: Any, bucket: str, key: str, upload_id: str, number: int, body: bytes
) -> dict[str, Any]:
    reply = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
    return {"PartNumber": number, "ETag": reply["ETag"]}


def verify_backup(target_db: PostgresTargetResource, s3: Any, backup: Backup) -> str:
    """Reads the object back through ``pg_restore --list``; returns its table of contents."""
    stored = find_backup(s3, backup.bucket, backup.key)
    if stored is None or stored.size != backup.size or stored.size == 0:
        raise BackupError(
            f"{backup.uri} holds {stored.size if stored else 'no'} bytes after the upload of"
            f" {backup.size}; the backup is not usable."
        )
    digest = hashlib.sha256()
    with s3_failures(f"the read-back of {backup.uri}"):
        body = s3.get_object(Bucket=backup.bucket, Key=backup.key)["Body"]
        contents = target_db.list_archive(_hashed(body.iter_chunks(READ_CHUNK), digest))
    if digest.hexdigest() != backup.sha256:
        raise BackupError(f"{backup.uri} reads back with a different SHA-256 than was uploaded.")
    return contents


def download(s3: Any, backup: Backup, destination: Path) -> None:
    """Copies the archive to ``destination``, refusing it if its SHA-256 is not the tagged one."""
    digest = hashlib.sha256()
    with s3_failures(f"the download of {backup.uri}"), open(destination, "wb") as out:
        body = s3.get_object(Bucket=backup.bucket, Key=backup.key)["Body"]
        for chunk in _hashed(body.iter_chunks(READ_CHUNK), digest):
            out.write(chunk)
    if backup.sha256 and digest.hexdigest() != backup.sha256:
        raise BackupError(f"{backup.uri} does not match its recorded SHA-256; not restoring it.")


def _hashed(chunks, digest):
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


def find_backup(s3: Any, bucket: str, key: str) -> Backup | None:
    """The backup stored under ``key`` with its size and tagged SHA-256, or None."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise BackupError(f"Cannot read s3://{bucket}/{key}: {exc}") from None
    tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    sha256 = next((tag["Value"] for tag in tags if tag["Key"] == SHA256_TAG), "")
    return Backup(bucket, key, int(head["ContentLength"]), sha256)


def list_backup_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Backup keys under ``prefix``, oldest first (their names sort by time)."""
    keys = []
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    with s3_failures(f"the listing of s3://{bucket}/{prefix}"):
        for page in pages:
            keys += [item["Key"] for item in page.get("Contents", [])]
    return sorted(key for key in keys if KEY_PATTERN.search(key))
