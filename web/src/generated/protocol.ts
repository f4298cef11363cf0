// Generated from crates/protocol by ts-rs: do not edit. Regenerate with
// UPDATE_GENERATED=1 cargo test -p fightwatch-protocol --lib typescript

export type AlertStatus = "active" | "ended" | "acknowledged" | "resolved";

export type Outcome = "confirmed" | "false_alarm" | "test";

export type FalseAlarmReason = "dancing" | "sport" | "play" | "crowd" | "camera_issue" | "other";

export type Role = "detector" | "viewer" | "operator" | "admin";

export type CameraStatus = "online" | "reconnecting" | "offline" | "ended";

export type FightAlert = { 
/**
 * Alert id.
 */
id: string, 
/**
 * Event sequence number.
 */
seq: number, 
/**
 * Camera name.
 */
camera: string, 
/**
 * Site the camera belongs to.
 */
site: string, 
/**
 * What was detected (`fight`).
 */
label: string, 
/**
 * Fight score, 0–1.
 */
score: number, 
/**
 * When the fight started, ms since the epoch.
 */
started_at: number, 
/**
 * Where the snapshot JPEG is served, when there is one.
 */
snapshot_url: string | null, 
/**
 * Who raised it: `pipeline` or the detector client's user name.
 */
source: string, 
/**
 * Where in the snapshot the fight is, `[x0, y0, x1, y1]` in 0–1 picture coordinates
 * (left, top, right, bottom), when the model could tell (its class activation map).
 */
region: [number, number, number, number] | null, 
/**
 * Where the heat map JPEG is served: the snapshot with the model's activation map laid
 * over it and the region drawn.
 */
heatmap_url: string | null, };

export type AlertUpdate = { 
/**
 * Alert id.
 */
id: string, 
/**
 * Event sequence number.
 */
seq: number, 
/**
 * The alert's camera, so that an update can be routed to the dashboards that may see it
 * (empty in events stored before it was added).
 */
camera: string, 
/**
 * The alert's site (empty in events stored before it was added).
 */
site: string, 
/**
 * New status.
 */
status: AlertStatus, 
/**
 * Highest score so far.
 */
peak_score: number, 
/**
 * When the fight ended, ms since the epoch.
 */
ended_at: number | null, 
/**
 * Operator who acknowledged it.
 */
acked_by: string | null, 
/**
 * The operator's note.
 */
note: string | null, 
/**
 * The incident clip, once it is written (absent before and in events stored before clips
 * existed).
 */
clip: ClipInfo | null, 
/**
 * Set on the update that records an evidence export: who exported the alert.
 */
exported_by: string | null, 
/**
 * The operator who owns the alert (took it or was assigned it).
 */
assignee: string | null, 
/**
 * How it was resolved.
 */
outcome: Outcome | null, 
/**
 * What a false alarm was.
 */
reason: FalseAlarmReason | null, 
/**
 * Who resolved it.
 */
resolved_by: string | null, 
/**
 * Detections grouped into this alert (1 for one; 0 in events stored before grouping).
 */
count: number, 
/**
 * Set on the update of a grouped detection that brought a snapshot of its own: where it
 * is served (`/api/alerts/{id}/detections/{count}.jpg`).
 */
detection_snapshot_url: string | null, 
/**
 * Set on the update that brings the clip of a grouped detection recorded after the
 * alert's own clip was finished.
 */
detection_clip: ClipInfo | null, 
/**
 * Where that clip is served (`/api/alerts/{id}/detections/{n}.mp4`).
 */
detection_clip_url: string | null, };

export type AlertEscalated = { 
/**
 * Alert id.
 */
id: string, 
/**
 * Event sequence number.
 */
seq: number, 
/**
 * The alert's camera.
 */
camera: string, 
/**
 * The alert's site.
 */
site: string, 
/**
 * 1 at the deadline, 2 at the next interval, …
 */
level: number, 
/**
 * How long the alert has waited for an acknowledgement, seconds.
 */
waiting_s: number, };

export type ClipInfo = { 
/**
 * File name on the server.
 */
file: string, 
/**
 * Length, ms.
 */
duration_ms: number, 
/**
 * File size.
 */
bytes: number, 
/**
 * SHA-256 of the file, lowercase hex.
 */
sha256: string, 
/**
 * `remux` (the camera's own video) or `encode` (encoded here: raw sources, masks).
 */
method: string, 
/**
 * Where in the clip the incident started, ms from the clip's start.
 */
start_ms: number, 
/**
 * Where in the clip its score peaked, ms, when known.
 */
peak_ms: number | null, 
/**
 * Where in the clip it ended, ms, when the clip reaches that far.
 */
end_ms: number | null, };

export type ChatMessage = { 
/**
 * Event sequence number.
 */
seq: number, 
/**
 * Room (`site:NAME`, a chat room, or a 1:1 room `dm:A:B`).
 */
room: string, 
/**
 * Sender.
 */
from: string, 
/**
 * The text.
 */
text: string, 
/**
 * When it was sent, ms since the epoch.
 */
at: number, };

export type CameraState = { 
/**
 * Camera name.
 */
camera: string, 
/**
 * Site.
 */
site: string, 
/**
 * What the camera is doing.
 */
status: CameraStatus, 
/**
 * Why it is not online, when it is not.
 */
error: string | null, 
/**
 * When this state began, ms since the epoch.
 */
since: number, 
/**
 * The node that runs the camera (several nodes: docs/deploy.md).
 */
node?: string, };

export type CameraMetrics = { 
/**
 * Camera name.
 */
camera: string, 
/**
 * Frames received from the camera per second.
 */
capture_fps: number, 
/**
 * Windows scored per second.
 */
inference_fps: number, 
/**
 * Mean model run time of the last second's windows, ms.
 */
inference_ms: number, 
/**
 * Frames dropped so far because inference was behind.
 */
dropped_frames: number, 
/**
 * Frames waiting in the camera's queue.
 */
queue_depth: number, 
/**
 * Windows left unscored per second: nothing moved, or the score was far below the
 * threshold (docs/inference.md, "Which windows are scored").
 */
skipped_fps: number, 
/**
 * Longest time this second from a window's last frame to its score (or to the decision
 * not to score it), ms: how far analysis runs behind the camera.
 */
analysis_lag_ms: number, };

export type Metrics = { 
/**
 * When, ms since the epoch.
 */
at: number, 
/**
 * Per camera.
 */
cameras: Array<CameraMetrics>, 
/**
 * Process CPU use over the last second, percent of one core.
 */
cpu_percent: number, 
/**
 * Process resident memory, bytes.
 */
rss_bytes: number, 
/**
 * Connected dashboards (of the node that sent this update).
 */
clients: number, 
/**
 * The node whose process and cameras these are (several nodes: docs/deploy.md).
 */
node?: string, };

export type ServerMessage = { "type": "welcome_message", 
/**
 * Connection id.
 */
session: string, 
/**
 * Authenticated user.
 */
user: string, 
/**
 * The user's role.
 */
role: Role, 
/**
 * Server version.
 */
server_version: string, 
/**
 * Newest event sequence number.
 */
last_seq: number, } | { "type": "fight_alert" } & FightAlert | { "type": "alert_update" } & AlertUpdate | { "type": "alert_escalated" } & AlertEscalated | { "type": "receive_message" } & ChatMessage | { "type": "camera_status" } & CameraState | { "type": "metric_update" } & Metrics | { "type": "error", 
/**
 * Stable machine-readable code (`bad_message`, `forbidden`, `rate_limited`, …).
 */
code: string, 
/**
 * What went wrong, for people.
 */
message: string, };

export type ClientMessage = { "type": "join_room", 
/**
 * The room.
 */
room: string, } | { "type": "leave_room", 
/**
 * The room.
 */
room: string, } | { "type": "resume", 
/**
 * Last sequence number the client has.
 */
after_seq: number, } | { "type": "ack_alert", 
/**
 * Alert id.
 */
id: string, 
/**
 * Optional note.
 */
note?: string, } | { "type": "take_alert", 
/**
 * Alert id.
 */
id: string, } | { "type": "assign_alert", 
/**
 * Alert id.
 */
id: string, 
/**
 * The operator's user name.
 */
to: string, } | { "type": "resolve_alert", 
/**
 * Alert id.
 */
id: string, 
/**
 * How it ended.
 */
outcome: Outcome, 
/**
 * What a false alarm was.
 */
reason?: FalseAlarmReason, 
/**
 * Optional note.
 */
note?: string, } | { "type": "send_message", 
/**
 * The room.
 */
room: string, 
/**
 * The text (at most 2,000 characters).
 */
text: string, } | { "type": "private_message", 
/**
 * Recipient user name.
 */
to: string, 
/**
 * The text.
 */
text: string, } | { "type": "fight_detected" } & Detection;

export type LiveVideoMessage = { "type": "stream", 
/**
 * RFC 6381 codec, for `MediaSource.isTypeSupported` (e.g. `avc1.64001e`).
 */
codec: string, 
/**
 * Picture width.
 */
width: number, 
/**
 * Picture height.
 */
height: number, } | { "type": "unavailable", 
/**
 * Why, for people.
 */
reason: string, };

export type Detection = { 
/**
 * Camera name.
 */
camera: string, 
/**
 * Site; default `default`.
 */
site?: string, 
/**
 * Fight score, 0–1.
 */
score: number, 
/**
 * Label; default `fight`.
 */
label?: string, 
/**
 * JPEG snapshot, base64.
 */
snapshot_jpeg?: string, };

export type IncidentEvent = { "event": "incident_started", 
/**
 * Incident id, unique per process run (`CAMERA-N`).
 */
incident: string, 
/**
 * Camera name.
 */
camera: string, 
/**
 * Media time, seconds.
 */
t: number, 
/**
 * Wall time, ms since the epoch.
 */
wall_ms: number, 
/**
 * Smoothed fight score when it started.
 */
score: number, 
/**
 * The winning fight label.
 */
label: string, } | { "event": "incident_updated", 
/**
 * Incident id.
 */
incident: string, 
/**
 * Camera name.
 */
camera: string, 
/**
 * Media time of the new peak, seconds.
 */
t: number, 
/**
 * Wall time, ms since the epoch.
 */
wall_ms: number, 
/**
 * The new peak (smoothed) score.
 */
peak: number, } | { "event": "incident_ended", 
/**
 * Incident id.
 */
incident: string, 
/**
 * Camera name.
 */
camera: string, 
/**
 * Media time it ended, seconds.
 */
t: number, 
/**
 * Wall time, ms since the epoch.
 */
wall_ms: number, 
/**
 * Media time from start to end, seconds.
 */
duration_s: number, 
/**
 * Highest smoothed score.
 */
peak: number, 
/**
 * Media time of the peak, seconds.
 */
peak_t: number, };

export type AlertRecord = { 
/**
 * Alert id.
 */
id: string, 
/**
 * Sequence number of its creation.
 */
seq: number, 
/**
 * Camera.
 */
camera: string, 
/**
 * Site.
 */
site: string, 
/**
 * Label (`fight`).
 */
label: string, 
/**
 * Score at start, 0–1.
 */
score: number, 
/**
 * Highest score so far.
 */
peak_score: number, 
/**
 * Status.
 */
status: AlertStatus, 
/**
 * Start, ms since the epoch.
 */
started_at: number, 
/**
 * End, ms since the epoch.
 */
ended_at: number | null, 
/**
 * Who acknowledged it.
 */
acked_by: string | null, 
/**
 * Acknowledgement note.
 */
note: string | null, 
/**
 * Snapshot file name on the server (served at `/api/alerts/{id}/snapshot.jpg`).
 */
snapshot: string | null, 
/**
 * Heat map file name on the server (served at `/api/alerts/{id}/heatmap.jpg`).
 */
heatmap: string | null, 
/**
 * Where in the snapshot the fight is, `[x0, y0, x1, y1]` in 0–1 picture coordinates.
 */
region: [number, number, number, number] | null, 
/**
 * Who raised it: `pipeline` or a detector's user name.
 */
source: string, 
/**
 * The incident clip, when one was written.
 */
clip: ClipInfo | null, 
/**
 * The operator who owns it.
 */
assignee: string | null, 
/**
 * How it was resolved.
 */
outcome: Outcome | null, 
/**
 * What a false alarm was.
 */
reason: FalseAlarmReason | null, 
/**
 * Who resolved it.
 */
resolved_by: string | null, 
/**
 * How many times it was escalated (nobody acknowledged it in time).
 */
escalations: number, 
/**
 * Detections grouped into it (later ones on its camera while it was open).
 */
count: number, 
/**
 * The last detection grouped into it, ms since the epoch.
 */
last_seen_at: number | null, };

export type LoginRequest = { 
/**
 * User name.
 */
user: string, 
/**
 * Password.
 */
password: string, };

export type LoginResponse = { 
/**
 * A JWT for `Authorization: Bearer`, `?token=` or the cookie.
 */
token: string, 
/**
 * User name.
 */
user: string, 
/**
 * The user's role.
 */
role: Role, 
/**
 * Seconds the token lasts.
 */
expires_in: number, 
/**
 * The newest event's seq: the console replays from here, so nothing raised between
 * sign-in and its WebSocket's welcome is missed.
 */
last_seq: number, };

export type Me = { 
/**
 * User name.
 */
user: string, 
/**
 * Role.
 */
role: Role, 
/**
 * The cameras this user may see; `null`: all.
 */
cameras: Array<string> | null, 
/**
 * When the token expires, ms since the epoch.
 */
expires_at: number, };

export type UserSummary = { 
/**
 * User name.
 */
name: string, 
/**
 * Role.
 */
role: Role, };

export type TimelineEntry = { 
/**
 * When the server committed the event, ms since the epoch.
 */
at: number, 
/**
 * The event (`fight_alert` or `alert_update`).
 */
event: ServerMessage, };

export type CameraView = { 
/**
 * Where a recent thumbnail is served, once there is one.
 */
latest_url: string | null, 
/**
 * Camera name.
 */
camera: string, 
/**
 * Site.
 */
site: string, 
/**
 * What the camera is doing.
 */
status: CameraStatus, 
/**
 * Why it is not online, when it is not.
 */
error: string | null, 
/**
 * When this state began, ms since the epoch.
 */
since: number, 
/**
 * The node that runs the camera (several nodes: docs/deploy.md).
 */
node?: string, };

export type AckRequest = { 
/**
 * What was done (at most 2,000 characters).
 */
note?: string, };

export type AssignRequest = { 
/**
 * The operator's user name.
 */
to: string, };

export type ResolveRequest = { 
/**
 * How it ended.
 */
outcome: Outcome, 
/**
 * What a false alarm was (required for `false_alarm`).
 */
reason?: FalseAlarmReason, 
/**
 * Optional note (at most 2,000 characters).
 */
note?: string, };

export type PushInfo = { 
/**
 * Web Push is configured on this server.
 */
enabled: boolean, 
/**
 * The VAPID public key (uncompressed P-256 point, base64url): `applicationServerKey`.
 */
public_key: string | null, };

export type PushKeys = { 
/**
 * P-256 public key, base64url.
 */
p256dh: string, 
/**
 * 16-byte authentication secret, base64url.
 */
auth: string, };

export type PushSubscribeRequest = { 
/**
 * The push service's URL for this browser.
 */
endpoint: string, 
/**
 * Its keys.
 */
keys: PushKeys, };

export type PushUnsubscribeRequest = { 
/**
 * The endpoint to forget.
 */
endpoint: string, };

export type Health = { 
/**
 * `ok`, or `unavailable` (503) when the store does not answer.
 */
status: string, 
/**
 * The node's name in a cluster (absent when it runs alone).
 */
node?: string, };

export type ErrorBody = { 
/**
 * What went wrong, for people.
 */
error: string, };

export type TargetStatus = { 
/**
 * The target.
 */
name: string, 
/**
 * Its URL's scheme and host (no path or query: they may hold tokens).
 */
endpoint: string, 
/**
 * The last event it was given (or skipped).
 */
cursor: number, 
/**
 * Events posted and taken.
 */
delivered: number, 
/**
 * Failed attempts (each retried).
 */
failed_attempts: number, 
/**
 * Events the receiver refused for good (4xx other than 408/429): logged, skipped.
 */
rejected: number, 
/**
 * Whether the last attempt failed (the event is being retried).
 */
retrying: boolean, 
/**
 * The last failure, if any.
 */
last_error: string | null, 
/**
 * When the last event was taken, ms since the epoch.
 */
last_delivered_at: number | null, };

export type TuneCandidate = { 
/**
 * Start threshold tried.
 */
start_threshold: number, 
/**
 * Consecutive windows tried.
 */
min_windows: number, 
/**
 * Confirmed fights (all cameras) it would still raise.
 */
fights_raised: number, 
/**
 * The camera's false alarms it would still raise.
 */
false_alarms_raised: number, };

export type TuneProposal = { 
/**
 * The camera.
 */
camera: string, 
/**
 * Confirmed fights the proposal must keep (every camera's).
 */
fights: number, 
/**
 * This camera's false alarms.
 */
false_alarms: number, 
/**
 * The camera's settings now, and how they do.
 */
current: TuneCandidate, 
/**
 * The proposed settings, and how they do.
 */
proposed: TuneCandidate, 
/**
 * Whether the proposal differs from the current settings.
 */
changed: boolean, 
/**
 * Every candidate tried.
 */
candidates: Array<TuneCandidate>, 
/**
 * Its trade-off plot, `tune-CAMERA.png`, served at `/api/tune/{plot}`.
 */
plot: string, };

export type TuneReport = { 
/**
 * When it was made, ms since the epoch.
 */
generated_at: number, 
/**
 * Verdicts (resolved alerts with a clip) it used.
 */
samples: number, 
/**
 * Resolved alerts without a clip to score (left out).
 */
without_clip: number, 
/**
 * Alerts resolved as tests (left out).
 */
tests: number, 
/**
 * Verdicts of cameras the config no longer has, per camera.
 */
unknown_cameras: { [key in string]: number }, 
/**
 * Whether `--apply` wrote the proposals into the config.
 */
applied: boolean, 
/**
 * One per camera with verdicts.
 */
proposals: Array<TuneProposal>, };
