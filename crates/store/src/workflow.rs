//! What an alert becomes, decided once for every store so they cannot disagree.

use fightwatch_protocol::{
    AlertStatus, AlertUpdate, ChatMessage, ClipInfo, FightAlert, ServerMessage,
};

use crate::{AlertChange, AlertRecord, Grouping, NewAlert, RaiseOrGroup, StoreError};

/// An event the store writes to its log: what it is on the wire, and the alert it belongs to
/// (the log's `alert_id` column, for an alert's timeline). `append` takes and returns one, so a
/// caller gets back the type it built.
pub(crate) trait StoredEvent: Clone {
    /// The event as it is sent and stored.
    fn into_message(self) -> ServerMessage;
    /// The alert it is about, if any.
    fn alert_id(&self) -> Option<&str>;
}

impl StoredEvent for FightAlert {
    fn into_message(self) -> ServerMessage {
        ServerMessage::FightAlert(self)
    }
    fn alert_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl StoredEvent for AlertUpdate {
    fn into_message(self) -> ServerMessage {
        ServerMessage::AlertUpdate(self)
    }
    fn alert_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl StoredEvent for fightwatch_protocol::AlertEscalated {
    fn into_message(self) -> ServerMessage {
        ServerMessage::AlertEscalated(self)
    }
    fn alert_id(&self) -> Option<&str> {
        Some(&self.id)
    }
}

impl StoredEvent for ChatMessage {
    fn into_message(self) -> ServerMessage {
        ServerMessage::ReceiveMessage(self)
    }
    fn alert_id(&self) -> Option<&str> {
        None
    }
}

/// The JSON body of event `seq` in the log.
pub(crate) fn event_body(seq: u64, event: &impl StoredEvent) -> Result<String, StoreError> {
    serde_json::to_string(&event.clone().into_message()).map_err(|e| StoreError::BadEvent {
        seq,
        message: e.to_string(),
    })
}

/// The `fight_alert` event of a new alert numbered `seq` (its id is `a{seq}`).
pub(crate) fn fight_alert(seq: u64, new: &NewAlert) -> FightAlert {
    FightAlert {
        id: format!("a{seq}"),
        seq,
        camera: new.camera.clone(),
        site: new.site.clone(),
        label: new.label.clone(),
        score: new.score,
        started_at: new.started_at,
        snapshot_url: new
            .snapshot
            .as_ref()
            .map(|_| format!("/api/alerts/a{seq}/snapshot.jpg")),
        source: new.source.clone(),
        region: new.region,
        heatmap_url: new
            .heatmap
            .as_ref()
            .map(|_| format!("/api/alerts/a{seq}/heatmap.jpg")),
    }
}

/// The change that counts `new` into `latest` (the camera's newest alert), when `grouping`
/// says it belongs there: same label, not resolved, and still active or seen within the window.
pub(crate) fn grouping_change(
    latest: &AlertRecord,
    new: &NewAlert,
    grouping: &Grouping,
) -> Option<AlertChange> {
    if grouping.window_ms == 0 {
        return None;
    }
    let last = latest
        .last_seen_at
        .unwrap_or(latest.started_at)
        .max(latest.ended_at.unwrap_or(0));
    let ongoing = latest.status == AlertStatus::Active;
    let open = latest.label == new.label
        && latest.status != AlertStatus::Resolved
        && (ongoing || grouping.now_ms.saturating_sub(last) <= grouping.window_ms);
    open.then(|| AlertChange {
        regroup: Some((new.score, grouping.now_ms)),
        detection_snapshot: new.snapshot.is_some() && latest.snapshot.is_some(),
        ..AlertChange::default()
    })
}

/// [`RaiseOrGroup::Grouped`] of `update`, the regrouping of `latest`.
pub(crate) fn grouped(latest: &AlertRecord, update: AlertUpdate) -> RaiseOrGroup {
    let alert_snapshot = update
        .detection_snapshot_url
        .is_some()
        .then(|| latest.snapshot.clone())
        .flatten();
    RaiseOrGroup::Grouped {
        update,
        alert_snapshot,
    }
}

/// `current` after `change`, as its `alert_update` event would say with `seq` 0: `peak` raises
/// the peak score, `ended_at` ends an active alert, `ack` acknowledges it (an acknowledged
/// alert stays acknowledged when it later ends), `assign` sets its owner, `resolve` closes it
/// with an outcome (and acknowledges it if nobody had). A resolved alert takes no more
/// acknowledgements, assignments or resolutions (a conflict); the pipeline may still end it
/// and attach its clip.
pub(crate) fn apply(
    current: &AlertRecord,
    change: &AlertChange,
) -> Result<AlertUpdate, StoreError> {
    let resolved = current.status == AlertStatus::Resolved;
    if resolved && (change.ack.is_some() || change.assign.is_some() || change.resolve.is_some()) {
        return Err(StoreError::Conflict(format!(
            "alert {} is resolved: it can no longer be changed",
            current.id
        )));
    }
    let peak_score = change
        .peak
        .into_iter()
        .chain(change.regroup.map(|(score, _)| score))
        .fold(current.peak_score, f32::max);
    // A detection grouped into an alert that had ended: the fight is on again.
    let ended_at = change.ended_at.or(if change.regroup.is_some() {
        None
    } else {
        current.ended_at
    });
    let (status, acked_by, note) = match (&change.resolve, &change.ack) {
        (Some(r), _) => (
            AlertStatus::Resolved,
            current.acked_by.clone().or_else(|| Some(r.user.clone())),
            r.note.clone().or_else(|| current.note.clone()),
        ),
        (None, Some((user, note))) => (AlertStatus::Acknowledged, Some(user.clone()), note.clone()),
        (None, None) if resolved || current.status == AlertStatus::Acknowledged => (
            current.status,
            current.acked_by.clone(),
            current.note.clone(),
        ),
        (None, None) if ended_at.is_some() => (AlertStatus::Ended, None, None),
        (None, None) => (AlertStatus::Active, None, None),
    };
    let resolution = change.resolve.as_ref();
    Ok(AlertUpdate {
        id: current.id.clone(),
        seq: 0,
        camera: current.camera.clone(),
        site: current.site.clone(),
        status,
        peak_score,
        ended_at,
        acked_by,
        note,
        clip: change
            .clip
            .clone()
            .map(Box::new)
            .or_else(|| current.clip.clone().map(Box::new)),
        exported_by: change.exported_by.clone(),
        assignee: change.assign.clone().or_else(|| current.assignee.clone()),
        outcome: resolution.map(|r| r.outcome).or(current.outcome),
        reason: resolution.map_or(current.reason, |r| r.reason),
        resolved_by: resolution
            .map(|r| r.user.clone())
            .or_else(|| current.resolved_by.clone()),
        count: current.count + u32::from(change.regroup.is_some()),
        detection_clip: change
            .detection_clip
            .as_ref()
            .map(|(_, clip)| Box::new(clip.clone())),
        detection_clip_url: change
            .detection_clip
            .as_ref()
            .map(|(n, _)| format!("/api/alerts/{}/detections/{n}.mp4", current.id)),
        detection_snapshot_url: (change.regroup.is_some() && change.detection_snapshot).then(
            || {
                format!(
                    "/api/alerts/{}/detections/{}.jpg",
                    current.id,
                    current.count + 1
                )
            },
        ),
    })
}

/// Whether `current` may be escalated to `level`, and its event numbered `seq` if so.
pub(crate) fn escalation(
    current: &AlertRecord,
    level: u32,
    now_ms: u64,
) -> Option<impl FnOnce(u64) -> fightwatch_protocol::AlertEscalated> {
    let waiting = matches!(current.status, AlertStatus::Active | AlertStatus::Ended);
    (waiting && level > current.escalations).then(|| {
        let (id, camera, site) = (
            current.id.clone(),
            current.camera.clone(),
            current.site.clone(),
        );
        let waiting_s = now_ms.saturating_sub(current.started_at) / 1000;
        move |seq| fightwatch_protocol::AlertEscalated {
            id,
            seq,
            camera,
            site,
            level,
            waiting_s,
        }
    })
}

/// The JSON an alert's clip is stored as.
pub(crate) fn clip_json(clip: Option<&ClipInfo>) -> Result<Option<String>, crate::StoreError> {
    clip.map(serde_json::to_string)
        .transpose()
        .map_err(|e| crate::StoreError::BadEvent {
            seq: 0,
            message: format!("clip: {e}"),
        })
}

/// A stored clip column; an unreadable one is an error (never silently no clip).
pub(crate) fn parse_clip(json: Option<String>) -> Result<Option<ClipInfo>, String> {
    json.map(|j| serde_json::from_str(&j).map_err(|e| format!("clip column: {e}")))
        .transpose()
}

/// A stored outcome; an unknown one is an error (fail closed).
pub(crate) fn parse_outcome(
    s: Option<String>,
) -> Result<Option<fightwatch_protocol::Outcome>, String> {
    s.map(|s| fightwatch_protocol::Outcome::parse(&s).ok_or(format!("unknown outcome {s:?}")))
        .transpose()
}

/// A stored false-alarm reason; an unknown one is an error.
pub(crate) fn parse_reason(
    s: Option<String>,
) -> Result<Option<fightwatch_protocol::FalseAlarmReason>, String> {
    s.map(|s| {
        fightwatch_protocol::FalseAlarmReason::parse(&s).ok_or(format!("unknown reason {s:?}"))
    })
    .transpose()
}

/// A region as stored: JSON `[x0, y0, x1, y1]`.
pub(crate) fn region_json(region: Option<[f32; 4]>) -> Option<String> {
    region.map(|r| format!("[{},{},{},{}]", r[0], r[1], r[2], r[3]))
}

/// A stored region; anything but four numbers is an error.
pub(crate) fn parse_region(s: Option<String>) -> Result<Option<[f32; 4]>, String> {
    s.map(|s| serde_json::from_str(&s).map_err(|e| format!("bad region {s:?}: {e}")))
        .transpose()
}

/// The media files of an alert: its snapshot, its clip and its heat map.
pub(crate) fn media_files(
    snapshot: Option<String>,
    clip: Option<String>,
    heatmap: Option<String>,
) -> Vec<String> {
    let clip_file = parse_clip(clip).ok().flatten().map(|c| c.file);
    snapshot
        .into_iter()
        .chain(clip_file)
        .chain(heatmap)
        .collect()
}

/// The `receive_message` event of a chat message numbered `seq`.
pub(crate) fn chat_message(seq: u64, room: &str, from: &str, text: &str, at: u64) -> ChatMessage {
    ChatMessage {
        seq,
        room: room.into(),
        from: from.into(),
        text: text.into(),
        at,
    }
}

/// The columns of an alert row, in the order [`alert_record`] reads them.
pub(crate) const ALERT_COLUMNS: &str = "id, seq, camera, site, label, score, peak_score, status, \
    started_at, ended_at, acked_by, note, snapshot, source, clip, assignee, outcome, reason, \
    resolved_by, escalations, count, last_seen_at, region, heatmap";

/// A row of either database, its columns by position: what [`alert_record`] needs of it.
pub(crate) trait StoredRow {
    /// The database's error.
    type Error;
    /// A text column.
    fn text(&self, i: usize) -> Result<String, Self::Error>;
    /// A nullable text column.
    fn opt_text(&self, i: usize) -> Result<Option<String>, Self::Error>;
    /// An integer column.
    fn int(&self, i: usize) -> Result<i64, Self::Error>;
    /// A nullable integer column.
    fn opt_int(&self, i: usize) -> Result<Option<i64>, Self::Error>;
    /// A floating-point column.
    fn float(&self, i: usize) -> Result<f64, Self::Error>;
    /// The error of a column whose value cannot be what it claims to be.
    fn unreadable(&self, i: usize, why: String) -> Self::Error;
}

/// An alert row ([`ALERT_COLUMNS`]) as a record, for both stores. Fail closed: an unknown status,
/// outcome or reason, or a clip or region that is not one, is an error, never a guess.
pub(crate) fn alert_record<R: StoredRow>(r: &R) -> Result<AlertRecord, R::Error> {
    let status = r.text(7)?;
    let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(AlertRecord {
        id: r.text(0)?,
        seq: unsigned(r.int(1)?),
        camera: r.text(2)?,
        site: r.text(3)?,
        label: r.text(4)?,
        score: r.float(5)? as f32,
        peak_score: r.float(6)? as f32,
        status: AlertStatus::parse(&status)
            .ok_or_else(|| r.unreadable(7, format!("unknown alert status {status:?}")))?,
        started_at: unsigned(r.int(8)?),
        ended_at: r.opt_int(9)?.map(unsigned),
        acked_by: r.opt_text(10)?,
        note: r.opt_text(11)?,
        snapshot: r.opt_text(12)?,
        source: r.text(13)?,
        clip: parse_clip(r.opt_text(14)?).map_err(|m| r.unreadable(14, m))?,
        assignee: r.opt_text(15)?,
        outcome: parse_outcome(r.opt_text(16)?).map_err(|m| r.unreadable(16, m))?,
        reason: parse_reason(r.opt_text(17)?).map_err(|m| r.unreadable(17, m))?,
        resolved_by: r.opt_text(18)?,
        escalations: u32::try_from(r.int(19)?.max(0)).unwrap_or(u32::MAX),
        count: u32::try_from(r.int(20)?.max(1)).unwrap_or(u32::MAX),
        last_seen_at: r.opt_int(21)?.map(unsigned),
        region: parse_region(r.opt_text(22)?).map_err(|m| r.unreadable(22, m))?,
        heatmap: r.opt_text(23)?,
    })
}
