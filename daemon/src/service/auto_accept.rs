//! A list's auto-accept (`store::auto_accept`): its members read the setting, the expected error
//! rate at its threshold and what the dry run would have accepted; its owner sets mode and
//! threshold (audited, ids only).

use crate::domain::{AuditAction, AuditObject};
use crate::store::{
    AUTO_ACCEPT_MIN_THRESHOLD as MIN_THRESHOLD, AutoAccept, AutoAcceptMode, AutoAcceptReport,
    ListId, Role, Store,
};

use super::{Actor, FieldCode, ServiceError, ServiceResult, audit, require_role};

/// The setting with its expected error rate and the dry run's marks (viewers).
pub async fn report(store: &Store, actor: Actor, list: ListId) -> ServiceResult<AutoAcceptReport> {
    require_role(store, actor, list, Role::Viewer).await?;
    Ok(store.auto_accept_report(list, None).await?)
}

/// Sets the mode and (when given) the threshold (the list's owner); answers the new report.
pub async fn set(
    store: &Store,
    actor: Actor,
    list: ListId,
    mode: AutoAcceptMode,
    threshold: Option<f64>,
) -> ServiceResult<AutoAcceptReport> {
    require_role(store, actor, list, Role::Owner).await?;
    let current = store.auto_accept(list).await?;
    let threshold = threshold.unwrap_or(current.threshold);
    if !(MIN_THRESHOLD..=1.0).contains(&threshold) {
        return Err(ServiceError::field(
            "threshold",
            FieldCode::Number,
            format!("must be from {MIN_THRESHOLD} to 1"),
        ));
    }
    store
        .set_auto_accept(list, AutoAccept { mode, threshold })
        .await?;
    audit(
        store,
        actor,
        AuditAction::ListAutoAccept,
        AuditObject::List,
        Some(list.0),
        Some(mode.as_str()),
    )
    .await?;
    Ok(store.auto_accept_report(list, None).await?)
}
