//! What a region error of a store stream means: a metric label per kind, and either the
//! fatal [`UpstreamError`] it is or the [`RegionAction`] that recovers from it.
//!
//! `cluster_id_mismatch`, `compatibility` and `duplicate_request` are fatal;
//! `not_leader` retries on the hinted leader (or re-locates without a usable hint);
//! `server_is_busy` (at most 10 s, as the store asks) and `congested` retry the region on the
//! same store after a backoff; `epoch_not_match`, `region_not_found` and unknown errors
//! re-locate the region's range through PD.

use std::time::Duration;

use crate::proto::cdcpb;
use crate::upstream::error::UpstreamError;

/// What to do about a region error that is not fatal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RegionAction {
    /// Register the same region on this store at once (leader hint).
    RetryOn(u64),
    /// Register the same region on the same store after at least this long.
    Backoff(Duration),
    /// Drop the region, find the regions of its range through PD, register them.
    Relocate,
}

/// Maps a region error to an action, or to the fatal error it is.
pub(super) fn classify(
    store_id: u64,
    region_id: u64,
    err: &cdcpb::Error,
) -> Result<RegionAction, UpstreamError> {
    if let Some(e) = &err.cluster_id_mismatch {
        return Err(UpstreamError::ClusterIdMismatch {
            store_id,
            current: e.current,
            requested: e.request,
        });
    }
    if let Some(e) = &err.compatibility {
        return Err(UpstreamError::Compatibility {
            store_id,
            required_version: e.required_version.clone(),
        });
    }
    if err.duplicate_request.is_some() {
        return Err(UpstreamError::DuplicateRequest {
            store_id,
            region_id,
        });
    }
    if let Some(n) = &err.not_leader {
        return Ok(
            match n
                .leader
                .as_ref()
                .map(|p| p.store_id)
                .filter(|s| *s != 0 && *s != store_id)
            {
                Some(leader) => RegionAction::RetryOn(leader),
                None => RegionAction::Relocate,
            },
        );
    }
    if let Some(b) = &err.server_is_busy {
        return Ok(RegionAction::Backoff(Duration::from_millis(
            b.backoff_ms.min(10_000),
        )));
    }
    if err.congested.is_some() {
        return Ok(RegionAction::Backoff(Duration::ZERO));
    }
    // epoch_not_match, region_not_found, unknown.
    Ok(RegionAction::Relocate)
}

/// The metric label of a region error.
pub(super) fn error_kind(e: &cdcpb::Error) -> &'static str {
    if e.not_leader.is_some() {
        "not_leader"
    } else if e.epoch_not_match.is_some() {
        "epoch_not_match"
    } else if e.region_not_found.is_some() {
        "region_not_found"
    } else if e.server_is_busy.is_some() {
        "server_is_busy"
    } else if e.congested.is_some() {
        "congested"
    } else if e.duplicate_request.is_some() {
        "duplicate_request"
    } else if e.compatibility.is_some() {
        "compatibility"
    } else if e.cluster_id_mismatch.is_some() {
        "cluster_id_mismatch"
    } else {
        "unknown"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_region_errors_classified() {
        use crate::proto::{cdcpb, errorpb, metapb};
        use crate::upstream::ErrorKind;
        let e = |f: &dyn Fn(&mut cdcpb::Error)| {
            let mut x = cdcpb::Error::default();
            f(&mut x);
            classify(2, 10, &x)
        };
        let fatal = |r: Result<RegionAction, UpstreamError>| r.expect_err("fatal").kind();
        assert_eq!(
            fatal(e(&|x| x.cluster_id_mismatch =
                Some(cdcpb::ClusterIdMismatch {
                    current: 1,
                    request: 2
                }))),
            ErrorKind::Fatal
        );
        assert!(matches!(
            e(&|x| x.compatibility = Some(cdcpb::Compatibility {
                required_version: "6.2.0".into()
            })),
            Err(UpstreamError::Compatibility { store_id: 2, .. })
        ));
        assert!(matches!(
            e(&|x| x.duplicate_request = Some(cdcpb::DuplicateRequest { region_id: 10 })),
            Err(UpstreamError::DuplicateRequest {
                store_id: 2,
                region_id: 10
            })
        ));
        let leader = |s| metapb::Peer {
            store_id: s,
            ..Default::default()
        };
        assert_eq!(
            e(&|x| x.not_leader = Some(errorpb::NotLeader {
                region_id: 10,
                leader: Some(leader(3))
            }))
            .ok(),
            Some(RegionAction::RetryOn(3))
        );
        assert_eq!(
            e(&|x| x.not_leader = Some(errorpb::NotLeader {
                region_id: 10,
                leader: None
            }))
            .ok(),
            Some(RegionAction::Relocate)
        );
        assert_eq!(
            e(&|x| x.epoch_not_match = Some(errorpb::EpochNotMatch::default())).ok(),
            Some(RegionAction::Relocate)
        );
        assert_eq!(
            e(&|x| x.region_not_found = Some(errorpb::RegionNotFound { region_id: 10 })).ok(),
            Some(RegionAction::Relocate)
        );
        assert_eq!(
            e(&|x| x.server_is_busy = Some(errorpb::ServerIsBusy {
                backoff_ms: 20,
                ..Default::default()
            }))
            .ok(),
            Some(RegionAction::Backoff(Duration::from_millis(20)))
        );
        assert_eq!(
            e(&|x| x.congested = Some(cdcpb::Congested { region_id: 10 })).ok(),
            Some(RegionAction::Backoff(Duration::ZERO))
        );
        assert_eq!(e(&|_| {}).ok(), Some(RegionAction::Relocate));
    }
}
