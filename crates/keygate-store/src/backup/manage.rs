//! The manager's backup operations: export as stored, import only after
//! [`super::check`] has passed every value.

use super::{check, Backup, BackupCounts};
use crate::store::now_secs;
use crate::{Manager, Result};

impl Manager {
    /// Everything in the database, for `keygate export` (secrets only as
    /// their hashes).
    pub async fn export_backup(&self) -> Result<Backup> {
        self.store().export_backup().await
    }

    /// Checks `backup` whole (names, hashes, actions against the catalog,
    /// references, lifecycle values), then writes it into this database in
    /// one transaction. Refused, writing nothing, when anything is invalid
    /// or the database holds any admin, role or credential.
    pub async fn import_backup(&self, backup: Backup) -> Result<BackupCounts> {
        let backup = check::normalize(backup, &self.catalog(), now_secs())?;
        self.store().import_backup(&backup).await?;
        let counts = backup.counts();
        let changes = keygate_core::audit::Changes::new()
            .note("admins", counts.admins.into())
            .note("roles", counts.roles.into())
            .note("credentials", counts.credentials.into());
        self.audit(
            keygate_core::audit::AuditVerb::BackupImport,
            "database",
            "",
            changes,
        )
        .await?;
        Ok(self.changed(counts).await)
    }
}
