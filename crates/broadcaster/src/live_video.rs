//! Live view without re-encoding: a camera's own H.264 as fragmented MP4 over a WebSocket, for
//! the console's Media Source Extensions player. Every viewer of a camera gets the same bytes
//! (no encoder runs: a viewer costs a copy into its socket). A viewer starts at the camera's
//! newest keyframe; one that falls behind skips to a later keyframe (newest wins). Cameras with
//! a privacy mask, raw or MJPEG sources and cameras of another node have no video here: the
//! socket says so (`unavailable`) and the console uses the MJPEG live view.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use fightwatch_capture::{VideoEvent, VideoSubscription};
use fightwatch_protocol::{ErrorBody, LiveVideoMessage};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use crate::Hub;
use crate::extract::{ApiError, VisibleCamera};
use crate::live::ViewEnd;

/// A camera's live video (WebSocket). Text messages are [`LiveVideoMessage`]s; binary ones
/// are fMP4: the init segment after each `stream`, then one fragment per frame. Counted
/// against the same live-view limits as MJPEG; ends when the viewer's session does.
#[utoipa::path(get, path = "/api/cameras/{name}/live.ws", tag = "cameras",
    params(("name" = String, Path, description = "Camera name")),
    responses((status = 101, description = "WebSocket: `LiveVideoMessage` text, fMP4 binary"),
        (status = 403, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody)))]
pub(crate) async fn live_video(
    State(hub): State<Arc<Hub>>,
    VisibleCamera { claims, name }: VisibleCamera,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if let Some(origin) = crate::guard::foreign_origin(&hub, &headers) {
        tracing::warn!(%origin, "Refused a cross-origin live video socket.");
        return Err(ApiError::forbidden("origin not allowed"));
    }
    let slot = crate::media::admit(&hub, &claims.sub, true)?;
    let video = match hub.feeds.live_source(&name) {
        Some(feed) => feed.video.subscribe().map_err(|why| why.to_string()),
        None => Err("the camera does not run on this node".to_string()),
    };
    let stall = hub.config.live_stall_timeout;
    // Viewers send nothing but control frames.
    Ok(ws
        .max_message_size(1024)
        .write_buffer_size(64 * 1024)
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            let viewer = Viewer { hub, claims, stall };
            let (mut sink, stream) = socket.split();
            let end = match video {
                Ok(video) => viewer.watch(&mut sink, stream, video).await,
                Err(reason) => {
                    send_text(&mut sink, &LiveVideoMessage::Unavailable { reason }, stall).await;
                    Some((1000, "no live video"))
                }
            };
            if let Some((code, reason)) = end {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                let _ = tokio::time::timeout(stall, sink.send(Message::Close(Some(frame)))).await;
            }
        }))
}

/// Which frames a viewer may be sent: every one, until it misses some (it fell behind, or a
/// new stream began); then none up to the next keyframe, where a decoder can start again.
#[derive(Debug, Default)]
struct KeyframeGate {
    waiting: bool,
}

impl KeyframeGate {
    /// Frames were missed.
    fn lost(&mut self) {
        self.waiting = true;
    }

    /// Whether a frame (`key`: a keyframe) may be sent.
    fn pass(&mut self, key: bool) -> bool {
        if self.waiting && !key {
            return false;
        }
        self.waiting = false;
        true
    }
}

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;
type Stream = futures_util::stream::SplitStream<WebSocket>;

struct Viewer {
    hub: Arc<Hub>,
    claims: crate::Claims,
    stall: Duration,
}

impl Viewer {
    /// Sends the stream until the viewer leaves or stalls, its session ends, the camera's
    /// video ends or the server stops; the close frame to send, if any.
    async fn watch(
        &self,
        sink: &mut Sink,
        mut stream: Stream,
        video: VideoSubscription,
    ) -> Option<(u16, &'static str)> {
        let VideoSubscription {
            init,
            backlog,
            mut events,
        } = video;
        if !self.start(sink, &init).await {
            return None;
        }
        for fragment in backlog {
            if !self
                .send(sink, Message::Binary(fragment.bytes.clone()))
                .await
            {
                return None;
            }
        }
        let mut ended = std::pin::pin!(crate::live::view_ends(
            self.hub.clone(),
            Some(self.claims.clone())
        ));
        let mut gate = KeyframeGate::default();
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Ok(VideoEvent::Fragment(f)) => {
                        if !gate.pass(f.key) {
                            continue;
                        }
                        if !self.send(sink, Message::Binary(f.bytes.clone())).await {
                            return None;
                        }
                    }
                    Ok(VideoEvent::Init(init)) => {
                        if !self.start(sink, &init).await {
                            return None;
                        }
                        gate.lost();
                    }
                    Ok(VideoEvent::Unavailable(why)) => {
                        let reason = why.to_string();
                        send_text(sink, &LiveVideoMessage::Unavailable { reason }, self.stall).await;
                        return Some((1000, "the camera's video ended"));
                    }
                    Err(RecvError::Lagged(skipped)) => {
                        tracing::debug!(user = %self.claims.sub, skipped, "A live video viewer fell behind; skipping to the next keyframe.");
                        gate.lost();
                    }
                    Err(RecvError::Closed) => return Some((1001, "camera stopped")),
                },
                message = stream.next() => match message {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                    Some(Ok(_)) => {}
                },
                end = &mut ended => return Some(match end {
                    ViewEnd::Session => (crate::ws::CLOSE_REVOKED, "session ended: sign in again"),
                    ViewEnd::Shutdown => (1001, "server shutting down"),
                }),
            }
        }
    }

    /// Announces a stream and sends its init segment.
    async fn start(&self, sink: &mut Sink, init: &fightwatch_capture::fmp4::InitSegment) -> bool {
        let announce = LiveVideoMessage::Stream {
            codec: init.codec.clone(),
            width: init.width,
            height: init.height,
        };
        send_text(sink, &announce, self.stall).await
            && self.send(sink, Message::Binary(init.bytes.clone())).await
    }

    /// Sends one message; false when the viewer left or did not take it within the stall
    /// limit (its place, and the camera's channel, are freed).
    async fn send(&self, sink: &mut Sink, message: Message) -> bool {
        match tokio::time::timeout(self.stall, sink.send(message)).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                tracing::info!(user = %self.claims.sub, stalled_s = self.stall.as_secs_f64(), "A live video viewer stopped reading; dropped.");
                false
            }
        }
    }
}

async fn send_text(sink: &mut Sink, message: &LiveVideoMessage, stall: Duration) -> bool {
    let Ok(text) = serde_json::to_string(message) else {
        return false;
    };
    matches!(
        tokio::time::timeout(stall, sink.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}

#[cfg(test)]
mod tests {
    use super::KeyframeGate;

    #[test]
    fn after_missed_frames_only_a_keyframe_restarts_the_stream() {
        let mut gate = KeyframeGate::default();
        assert!(gate.pass(false) && gate.pass(true) && gate.pass(false));
        gate.lost();
        assert!(!gate.pass(false), "a frame that needs the missed ones");
        assert!(!gate.pass(false));
        assert!(gate.pass(true), "a keyframe decodes on its own");
        assert!(gate.pass(false));
    }
}
