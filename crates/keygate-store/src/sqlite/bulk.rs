//! A full build's credential read through SQLite's C API, on the
//! transaction's own connection: at a million credentials the row-by-row
//! driver path (every value copied on the driver's thread, sent over a
//! channel, looked up by column name and freed on another thread) cost
//! more than SQLite's own reading. Here each row is read in place and only
//! what the snapshot keeps is copied.

use std::ffi::{c_int, CStr};
use std::ptr::{self, NonNull};

use keygate_core::model::AdminId;
use keygate_core::snapshot::CredentialEntry;
use keygate_core::SnapshotBuilder;
use libsqlite3_sys as ffi;
use sqlx::{Sqlite, Transaction};

use super::rows;
use crate::columns::{self, LifecycleColumns};
use crate::{Error, Result};

/// Reads every credential of `tx` into `builder` on a blocking thread (the
/// read takes seconds at a million and must not hold up the runtime), in
/// the transaction's read snapshot; returns both for the commit.
pub(super) async fn read_credentials(
    mut tx: Transaction<'static, Sqlite>,
    mut builder: SnapshotBuilder,
) -> Result<(Transaction<'static, Sqlite>, SnapshotBuilder)> {
    let read = tokio::task::spawn_blocking(move || {
        // Locking the handle is a message to the driver's own thread: no
        // runtime is needed to wait for it.
        let result = futures::executor::block_on(async {
            let mut handle = tx.lock_handle().await?;
            // SAFETY: the handle is locked out of the driver's worker for
            // as long as `handle` lives, so only this thread uses it.
            unsafe { read_into(handle.as_raw_handle(), &mut builder) }
        });
        result.map(|()| (tx, builder))
    });
    read.await
        .map_err(|e| Error::Unavailable(format!("reading the credentials failed: {e}")))?
}

/// Steps through the credentials on `db`, pushing each into `builder`.
///
/// # Safety
/// `db` must be an open connection no other thread uses meanwhile.
unsafe fn read_into(db: NonNull<ffi::sqlite3>, builder: &mut SnapshotBuilder) -> Result<()> {
    let sql = format!("{} ORDER BY id", rows::CREDENTIAL_ENTRIES);
    let statement = Statement::prepare(db, &sql)?;
    let now = crate::store::now_secs();
    while statement.step()? {
        builder.push(&credential(&statement, now)?);
    }
    Ok(())
}

/// The entry of the statement's current row, columns in the order of
/// `CREDENTIAL_ENTRIES` (as `rows::credential_entry` reads them by name).
fn credential(row: &Statement, now: i64) -> Result<CredentialEntry> {
    let identifier = required(row.text(1)?)?.to_owned();
    let lifecycle = LifecycleColumns {
        enabled: required(row.int(5))? != 0,
        expires_at: row.int(6),
        allow_ips: required(row.text(7)?)?.to_owned(),
        rate_limit: row.text(8)?.map(str::to_owned),
        client_ids: required(row.text(9)?)?.to_owned(),
    };
    Ok(CredentialEntry {
        hashes: columns::hashes(&identifier, required(row.blob(2))?, required(row.blob(3))?)?,
        admin_id: AdminId(required(row.int(4))?),
        role_ids: columns::role_id_list(row.text(13)?.map(str::to_owned))?,
        lifecycle: lifecycle.parse(&identifier)?,
        old_secret: columns::old_secret(
            &identifier,
            row.blob(10).map(<[u8]>::to_vec),
            row.blob(11).map(<[u8]>::to_vec),
            row.int(12),
            now,
        )?,
        identifier,
    })
}

/// A value of a `NOT NULL` column: a NULL there is a corrupt database.
fn required<T>(value: Option<T>) -> Result<T> {
    value.ok_or_else(|| failed("a required credential column is NULL"))
}

/// A prepared statement, finalized when dropped.
struct Statement {
    db: NonNull<ffi::sqlite3>,
    raw: NonNull<ffi::sqlite3_stmt>,
}

impl Statement {
    /// Prepares `sql` on `db`.
    ///
    /// # Safety
    /// As for [`read_into`]; the statement must be dropped before `db` is
    /// handed back.
    unsafe fn prepare(db: NonNull<ffi::sqlite3>, sql: &str) -> Result<Self> {
        let mut raw = ptr::null_mut();
        let len = c_int::try_from(sql.len()).map_err(|_| failed("statement too long"))?;
        let rc = ffi::sqlite3_prepare_v2(
            db.as_ptr(),
            sql.as_ptr().cast(),
            len,
            &mut raw,
            ptr::null_mut(),
        );
        match NonNull::new(raw) {
            Some(raw) if rc == ffi::SQLITE_OK => Ok(Self { db, raw }),
            _ => Err(error(db, rc)),
        }
    }

    /// Moves to the next row: `false` when there is none.
    fn step(&self) -> Result<bool> {
        // SAFETY: `raw` is a live statement of `db`, used by one thread.
        match unsafe { ffi::sqlite3_step(self.raw.as_ptr()) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            rc => Err(error(self.db, rc)),
        }
    }

    fn is_null(&self, column: c_int) -> bool {
        // SAFETY: the statement is on a row (after `step` returned true).
        unsafe { ffi::sqlite3_column_type(self.raw.as_ptr(), column) == ffi::SQLITE_NULL }
    }

    /// An integer column; `None` when NULL.
    fn int(&self, column: c_int) -> Option<i64> {
        // SAFETY: as for `is_null`.
        (!self.is_null(column))
            .then(|| unsafe { ffi::sqlite3_column_int64(self.raw.as_ptr(), column) })
    }

    /// A blob column, borrowed until the next step; `None` when NULL.
    fn blob(&self, column: c_int) -> Option<&[u8]> {
        if self.is_null(column) {
            return None;
        }
        // SAFETY: the pointer and length describe the column's value,
        // valid until the next step or finalize (both need `&self` to end).
        unsafe {
            let data = ffi::sqlite3_column_blob(self.raw.as_ptr(), column);
            let len = ffi::sqlite3_column_bytes(self.raw.as_ptr(), column);
            Some(bytes(data.cast(), len))
        }
    }

    /// A text column, borrowed until the next step; `None` when NULL.
    fn text(&self, column: c_int) -> Result<Option<&str>> {
        if self.is_null(column) {
            return Ok(None);
        }
        // SAFETY: as for `blob`; text is asked for before its length, as
        // SQLite's documentation requires.
        let raw = unsafe {
            let data = ffi::sqlite3_column_text(self.raw.as_ptr(), column);
            let len = ffi::sqlite3_column_bytes(self.raw.as_ptr(), column);
            bytes(data, len)
        };
        std::str::from_utf8(raw)
            .map(Some)
            .map_err(|_| failed("a stored credential column is not UTF-8"))
    }
}

impl Drop for Statement {
    fn drop(&mut self) {
        // SAFETY: `raw` was prepared on `db` and is finalized once.
        unsafe { ffi::sqlite3_finalize(self.raw.as_ptr()) };
    }
}

/// `len` bytes at `data` (SQLite returns a null pointer for an empty value).
///
/// # Safety
/// `data` must point to `len` readable bytes for the lifetime chosen.
unsafe fn bytes<'a>(data: *const u8, len: c_int) -> &'a [u8] {
    match usize::try_from(len) {
        Ok(len) if len > 0 && !data.is_null() => std::slice::from_raw_parts(data, len),
        _ => &[],
    }
}

/// The error SQLite reports on `db` for the result code `rc`.
fn error(db: NonNull<ffi::sqlite3>, rc: c_int) -> Error {
    // SAFETY: `db` is open; the message is copied before any other call.
    let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db.as_ptr())) };
    failed(&format!("{} (SQLite code {rc})", message.to_string_lossy()))
}

fn failed(why: &str) -> Error {
    Error::Unavailable(format!("reading the credentials failed: {why}"))
}
