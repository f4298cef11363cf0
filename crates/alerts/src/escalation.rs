//! Escalation: an alert nobody acknowledged by its deadline is escalated, and again at every
//! interval until someone acts. Deadlines come from the stored start time and escalation count,
//! so a restart (or another node) carries on where it stopped instead of starting over.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fightwatch_protocol::{AlertEscalated, AlertStatus, ServerMessage, now_ms};
use fightwatch_store::{AlertFilter, AlertRecord};

use crate::{AlertError, AlertService, blocking};

/// When alerts escalate.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalationPolicy {
    /// Time to acknowledge an alert before it escalates.
    pub deadline: Duration,
    /// Time between further escalations.
    pub interval: Duration,
    /// Deadlines of particular cameras (a busy entrance, a quiet archive).
    pub per_camera: HashMap<String, Duration>,
}

impl Default for EscalationPolicy {
    /// 60 s to acknowledge, then every 60 s.
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(60),
            interval: Duration::from_secs(60),
            per_camera: HashMap::new(),
        }
    }
}

impl EscalationPolicy {
    /// The escalation level `alert` should have reached at `now_ms` (0: not due).
    pub fn level_at(&self, alert: &AlertRecord, now_ms: u64) -> u32 {
        let deadline = self.per_camera.get(&alert.camera).unwrap_or(&self.deadline);
        let waited = now_ms.saturating_sub(alert.started_at);
        let deadline_ms = deadline.as_millis() as u64;
        if waited < deadline_ms {
            return 0;
        }
        let interval_ms = (self.interval.as_millis() as u64).max(1);
        (1 + (waited - deadline_ms) / interval_ms).min(u64::from(u32::MAX)) as u32
    }
}

impl AlertService {
    /// Escalates every alert waiting for an acknowledgement whose level is due at `now_ms`;
    /// publishes each `alert_escalated`; returns them.
    pub async fn escalate_due(
        &self,
        policy: &EscalationPolicy,
        now_ms: u64,
    ) -> Result<Vec<AlertEscalated>, AlertError> {
        let waiting = blocking(self.store(), |s| {
            let mut all = Vec::new();
            for status in [AlertStatus::Active, AlertStatus::Ended] {
                all.extend(s.alerts(&AlertFilter {
                    status: Some(status),
                    limit: 1000,
                    ..AlertFilter::default()
                })?);
            }
            Ok::<_, fightwatch_store::StoreError>(all)
        })
        .await?;
        let mut escalated = Vec::new();
        for alert in waiting {
            let level = policy.level_at(&alert, now_ms);
            if level <= alert.escalations {
                continue;
            }
            let id = alert.id.clone();
            let done = self
                .journal()
                .record(
                    move |s| {
                        s.escalate_alert(&id, level, now_ms)?
                            .ok_or(fightwatch_store::StoreError::Conflict("not due".into()))
                    },
                    ServerMessage::AlertEscalated,
                )
                .await;
            match done {
                Ok(e) => {
                    tracing::warn!(alert = %e.id, camera = %e.camera, level = e.level, waiting_s = e.waiting_s, "Alert escalated: nobody acknowledged it.");
                    escalated.push(e);
                }
                // Acknowledged, resolved or escalated elsewhere meanwhile.
                Err(e) if e.conflict().is_some() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(escalated)
    }

    /// Checks for due escalations every second until the runtime stops. Call from inside a
    /// tokio runtime.
    pub fn escalate(self: &Arc<Self>, policy: EscalationPolicy) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                every.tick().await;
                match this.escalate_due(&policy, now_ms()).await {
                    Ok(_) => {}
                    Err(AlertError::Cancelled) => return,
                    Err(e) => tracing::error!(error = %e, "Checking escalations failed."),
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use fightwatch_store::{AlertStore, NewAlert, SqliteStore};

    use super::*;
    use crate::{EventBus, LocalBus, MediaDir};

    #[tokio::test]
    async fn due_alerts_escalate_once_per_level_and_acknowledged_ones_never() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn AlertStore> =
            Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
        let bus = Arc::new(LocalBus::new(store.clone(), 64));
        let mut published = bus.subscribe();
        let service = AlertService::new(store.clone(), bus, MediaDir::new(dir.path().join("m")));
        let new = |camera: &str, started_at| NewAlert {
            camera: camera.into(),
            site: "hq".into(),
            label: "fight".into(),
            score: 0.9,
            started_at,
            snapshot: None,
            region: None,
            heatmap: None,
            source: "test".into(),
        };
        let a = service.raise(new("gate", 1_000_000), None).await.unwrap();
        let b = service.raise(new("lobby", 1_000_000), None).await.unwrap();
        service.acknowledge(&b.id, "ops", None).await.unwrap();
        let mut policy = EscalationPolicy {
            deadline: Duration::from_secs(60),
            interval: Duration::from_secs(30),
            ..EscalationPolicy::default()
        };
        let at = |s: u64| 1_000_000 + s * 1000;
        assert!(
            service
                .escalate_due(&policy, at(59))
                .await
                .unwrap()
                .is_empty()
        );
        let first = service.escalate_due(&policy, at(60)).await.unwrap();
        assert_eq!(
            first
                .iter()
                .map(|e| (e.id.as_str(), e.level, e.waiting_s))
                .collect::<Vec<_>>(),
            [(a.id.as_str(), 1, 60)]
        );
        assert!(
            service
                .escalate_due(&policy, at(89))
                .await
                .unwrap()
                .is_empty(),
            "once per level"
        );
        assert_eq!(
            service.escalate_due(&policy, at(90)).await.unwrap()[0].level,
            2
        );
        // A restart (a new service on the same store) goes on from level 2, after a long gap
        // straight to the level due now.
        let again = AlertService::new(
            store.clone(),
            Arc::new(LocalBus::new(store.clone(), 8)),
            MediaDir::new(dir.path().join("m")),
        );
        assert_eq!(
            again.escalate_due(&policy, at(150)).await.unwrap()[0].level,
            4
        );
        assert!(
            again
                .escalate_due(&policy, at(150))
                .await
                .unwrap()
                .is_empty()
        );
        // A camera of its own: a shorter deadline.
        policy
            .per_camera
            .insert("yard".into(), Duration::from_secs(5));
        let c = service.raise(new("yard", at(200)), None).await.unwrap();
        assert_eq!(
            service.escalate_due(&policy, at(205)).await.unwrap()[0].id,
            c.id
        );
        // Acknowledged: never again.
        service.acknowledge(&a.id, "ops", None).await.unwrap();
        assert!(
            service
                .escalate_due(&policy, at(1000))
                .await
                .unwrap()
                .iter()
                .all(|e| e.id == c.id)
        );
        assert_eq!(store.alert(&a.id).unwrap().unwrap().escalations, 5);
        let mut kinds = Vec::new();
        while let Ok(m) = published.try_recv() {
            if let ServerMessage::AlertEscalated(e) = &*m {
                kinds.push((e.id.clone(), e.level));
            }
        }
        assert_eq!(kinds[..2], [(a.id.clone(), 1), (a.id.clone(), 2)]);
    }
}
