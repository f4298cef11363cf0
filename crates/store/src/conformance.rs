//! The behaviour every [`AlertStore`] must have, as checks any implementation can run:
//! `check_all(&mut || Box::new(MyStore::fresh()))` in a test of the implementation. Each
//! check starts from an empty store. (The SQLite store runs them in its own tests; enable the
//! `conformance` feature to use them from another crate.)

// A test suite: a failed expectation is a panic with the values side by side.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use fightwatch_protocol::{AlertStatus, Role};

use crate::{
    AlertChange, AlertFilter, AlertStore, Grouping, NewAlert, RaiseOrGroup, Resolution,
    SessionRecord, StoreError, UserRecord,
};

/// Runs every check, each on a store `fresh` makes empty.
pub fn check_all(fresh: &mut dyn FnMut() -> Box<dyn AlertStore>) {
    events_are_numbered_in_commit_order(fresh().as_ref());
    users_round_trip(fresh().as_ref());
    filters_paging_chat_and_retention(fresh().as_ref());
    sessions_are_revoked(fresh().as_ref());
    workflow_assigns_and_resolves(fresh().as_ref());
    integration_cursors_only_move_forward(fresh().as_ref());
    push_subscriptions_are_kept_per_endpoint(fresh().as_ref());
    regions_and_heat_maps_are_kept(fresh().as_ref());
    detections_group_into_the_open_alert(fresh().as_ref());
    simultaneous_detections_raise_one_alert(fresh());
    one_first_user_of_several_at_once(fresh());
}

/// `create_first_user` from several threads at once on an empty store: exactly one creates
/// its user (and so one password is the admin's); later calls create nothing.
pub fn one_first_user_of_several_at_once(store: Box<dyn AlertStore>) {
    let store: std::sync::Arc<dyn AlertStore> = store.into();
    let threads = 6;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(threads));
    let created: Vec<(usize, bool)> = (0..threads)
        .map(|t| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let admin = UserRecord {
                    name: "admin".into(),
                    role: Role::Admin,
                    password_hash: format!("hash-{t}"),
                    cameras: None,
                };
                (t, store.create_first_user(&admin).unwrap())
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let winners: Vec<usize> = created.iter().filter(|c| c.1).map(|c| c.0).collect();
    assert_eq!(winners.len(), 1, "{created:?}");
    let admin = store.user("admin").unwrap().unwrap();
    assert_eq!(admin.password_hash, format!("hash-{}", winners[0]));
    assert_eq!(store.user_count().unwrap(), 1);
    let another = UserRecord {
        name: "root".into(),
        ..admin
    };
    assert!(!store.create_first_user(&another).unwrap());
    assert_eq!(store.user("root").unwrap(), None);
}

/// `raise_or_group`: a detection joins its camera's newest alert while that one is active or
/// was seen within the window, has the same label and is not resolved; otherwise it is a new
/// alert. A grouped detection's snapshot is kept when both it and the alert have one.
pub fn detections_group_into_the_open_alert(store: &dyn AlertStore) {
    let within = |now_ms| Grouping {
        window_ms: 1000,
        now_ms,
    };
    let RaiseOrGroup::Raised(first) = store
        .raise_or_group(&new_alert("gate", 1000), &within(1000))
        .unwrap()
    else {
        panic!("the first detection groups into nothing")
    };
    let grouped = store
        .raise_or_group(&new_alert("gate", 1500), &within(1500))
        .unwrap();
    let RaiseOrGroup::Grouped {
        update,
        alert_snapshot,
    } = grouped
    else {
        panic!("an active alert takes the next detection: {grouped:?}")
    };
    assert_eq!((update.id.as_str(), update.count), (first.id.as_str(), 2));
    assert_eq!(alert_snapshot.as_deref(), Some("snap.jpg"));
    assert_eq!(
        update.detection_snapshot_url,
        Some(format!("/api/alerts/{}/detections/2.jpg", first.id))
    );
    // Another camera, another label: alerts of their own.
    assert!(matches!(
        store
            .raise_or_group(&new_alert("yard", 1600), &within(1600))
            .unwrap(),
        RaiseOrGroup::Raised(_)
    ));
    let smoke = NewAlert {
        label: "smoke".into(),
        ..new_alert("gate", 1700)
    };
    assert!(matches!(
        store.raise_or_group(&smoke, &within(1700)).unwrap(),
        RaiseOrGroup::Raised(_)
    ));
    // An ended alert takes detections within the window (and is active again), not after.
    let ended = NewAlert {
        snapshot: None,
        ..new_alert("dock", 2000)
    };
    let RaiseOrGroup::Raised(dock) = store.raise_or_group(&ended, &within(2000)).unwrap() else {
        panic!("a new camera raises")
    };
    let end = AlertChange {
        ended_at: Some(2500),
        ..AlertChange::default()
    };
    store.update_alert(&dock.id, &end).unwrap();
    let RaiseOrGroup::Grouped {
        update,
        alert_snapshot,
    } = store
        .raise_or_group(&new_alert("dock", 3400), &within(3400))
        .unwrap()
    else {
        panic!("seen 900 ms ago: grouped")
    };
    assert_eq!(
        (update.status, update.ended_at),
        (AlertStatus::Active, None)
    );
    // The alert had no snapshot: the detection's is not kept beside it.
    assert_eq!(
        (alert_snapshot, update.detection_snapshot_url),
        (None, None)
    );
    store.update_alert(&dock.id, &end).unwrap();
    assert!(matches!(
        store
            .raise_or_group(&new_alert("dock", 9000), &within(9000))
            .unwrap(),
        RaiseOrGroup::Raised(_)
    ));
    // Resolved alerts take no more detections; a zero window groups nothing.
    let resolve = AlertChange {
        resolve: Some(Resolution {
            user: "ops".into(),
            outcome: fightwatch_protocol::Outcome::Confirmed,
            reason: None,
            note: None,
        }),
        ..AlertChange::default()
    };
    store.update_alert(&first.id, &resolve).unwrap();
    assert!(matches!(
        store
            .raise_or_group(&new_alert("gate", 1800), &within(1800))
            .unwrap(),
        RaiseOrGroup::Raised(_)
    ));
    let never = Grouping {
        window_ms: 0,
        now_ms: 1900,
    };
    assert!(matches!(
        store
            .raise_or_group(&new_alert("yard", 1900), &never)
            .unwrap(),
        RaiseOrGroup::Raised(_)
    ));
}

/// Many detections of one camera at the same instant, from several threads: one alert, the
/// rest counted into it, every detection once.
pub fn simultaneous_detections_raise_one_alert(store: Box<dyn AlertStore>) {
    let store: std::sync::Arc<dyn AlertStore> = store.into();
    let threads = 8;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(threads));
    let raised: Vec<RaiseOrGroup> = (0..threads)
        .map(|_| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let grouping = Grouping {
                    window_ms: 120_000,
                    now_ms: 5000,
                };
                store
                    .raise_or_group(&new_alert("hall", 5000), &grouping)
                    .unwrap()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let new = raised
        .iter()
        .filter(|r| matches!(r, RaiseOrGroup::Raised(_)))
        .count();
    assert_eq!(new, 1, "{raised:?}");
    let mut counts: Vec<u32> = raised
        .iter()
        .filter_map(|r| match r {
            RaiseOrGroup::Grouped { update, .. } => Some(update.count),
            RaiseOrGroup::Raised(_) => None,
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (2..=threads as u32).collect::<Vec<_>>());
    let alerts = store
        .alerts(&AlertFilter {
            camera: Some("hall".into()),
            ..AlertFilter::default()
        })
        .unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].count, threads as u32);
}

/// Where in the picture: the region and the heat map's name come back as stored, the event
/// says where the heat map is served, and giving up an alert's media forgets its heat map.
pub fn regions_and_heat_maps_are_kept(store: &dyn AlertStore) {
    let region = [0.418, 0.4615, 0.8279, 0.934];
    let a = store
        .create_alert(&NewAlert {
            region: Some(region),
            heatmap: Some("snap-heat.jpg".into()),
            ..new_alert("lobby", 100)
        })
        .unwrap();
    assert_eq!(a.region, Some(region));
    assert_eq!(a.heatmap_url.as_deref(), Some("/api/alerts/a1/heatmap.jpg"));
    let b = store.create_alert(&new_alert("gate", 101)).unwrap();
    assert_eq!((b.region, b.heatmap_url), (None, None));
    let stored = store.alert("a1").unwrap().unwrap();
    assert_eq!(
        (stored.region, stored.heatmap.as_deref()),
        (Some(region), Some("snap-heat.jpg"))
    );
    store.clear_media("a1").unwrap();
    let cleared = store.alert("a1").unwrap().unwrap();
    assert_eq!((cleared.heatmap, cleared.region), (None, Some(region)));
}

/// A subscription is stored, replaced by endpoint, listed oldest first, and deleted.
pub fn push_subscriptions_are_kept_per_endpoint(store: &dyn AlertStore) {
    use crate::PushSubscription;
    let sub = |user: &str, endpoint: &str, at: u64| PushSubscription {
        user: user.into(),
        endpoint: endpoint.into(),
        p256dh: "BPk".into(),
        auth: "au".into(),
        created_at: at,
    };
    assert!(store.push_subscriptions().unwrap().is_empty());
    assert!(
        store
            .put_push_subscription(&sub("olga", "https://push.example/1", 10))
            .unwrap()
    );
    assert!(
        store
            .put_push_subscription(&sub("olga", "https://push.example/2", 20))
            .unwrap()
    );
    // Someone else cannot take olga's browser over; olga can renew it.
    assert!(
        !store
            .put_push_subscription(&sub("piet", "https://push.example/1", 30))
            .unwrap()
    );
    assert!(
        store
            .put_push_subscription(&sub("olga", "https://push.example/1", 5))
            .unwrap()
    );
    let all = store.push_subscriptions().unwrap();
    assert_eq!(
        all,
        [
            sub("olga", "https://push.example/1", 5),
            sub("olga", "https://push.example/2", 20)
        ]
    );
    assert!(
        store
            .delete_push_subscription("https://push.example/2")
            .unwrap()
    );
    assert!(
        !store
            .delete_push_subscription("https://push.example/2")
            .unwrap()
    );
    assert_eq!(store.push_subscriptions().unwrap().len(), 1);
}

/// A target's cursor is absent until set, then only grows.
pub fn integration_cursors_only_move_forward(store: &dyn AlertStore) {
    assert_eq!(store.integration_cursor("hook").unwrap(), None);
    store.set_integration_cursor("hook", 5).unwrap();
    store.set_integration_cursor("hook", 3).unwrap();
    store.set_integration_cursor("other", 1).unwrap();
    assert_eq!(store.integration_cursor("hook").unwrap(), Some(5));
    assert_eq!(store.integration_cursor("other").unwrap(), Some(1));
}

/// Take, assign, resolve with an outcome; a resolved alert refuses more workflow but the
/// pipeline may still end it; the status filter finds resolved alerts.
pub fn workflow_assigns_and_resolves(store: &dyn AlertStore) {
    use fightwatch_protocol::{FalseAlarmReason, Outcome};
    let a = store.create_alert(&new_alert("lobby", 100)).unwrap();
    let change = |c: AlertChange| store.update_alert(&a.id, &c);
    let u = change(AlertChange {
        assign: Some("ops".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        (u.status, u.assignee.as_deref()),
        (AlertStatus::Active, Some("ops"))
    );
    let u = change(AlertChange {
        ack: Some(("ops".into(), Some("on my way".into()))),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        (u.status, u.assignee.as_deref()),
        (AlertStatus::Acknowledged, Some("ops"))
    );
    let u = change(AlertChange {
        resolve: Some(crate::Resolution {
            user: "lead".into(),
            outcome: Outcome::FalseAlarm,
            reason: Some(FalseAlarmReason::Dancing),
            note: Some("a dance class".into()),
        }),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        (
            u.status,
            u.outcome,
            u.reason,
            u.resolved_by.as_deref(),
            u.acked_by.as_deref(),
            u.note.as_deref()
        ),
        (
            AlertStatus::Resolved,
            Some(Outcome::FalseAlarm),
            Some(FalseAlarmReason::Dancing),
            Some("lead"),
            Some("ops"),
            Some("a dance class")
        )
    );
    for refused in [
        AlertChange {
            ack: Some(("x".into(), None)),
            ..Default::default()
        },
        AlertChange {
            assign: Some("x".into()),
            ..Default::default()
        },
    ] {
        assert!(matches!(change(refused), Err(StoreError::Conflict(_))));
    }
    // The fight may go on after an operator closed the alert: the pipeline still ends it.
    let u = change(AlertChange {
        ended_at: Some(200),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        (u.status, u.ended_at, u.outcome),
        (AlertStatus::Resolved, Some(200), Some(Outcome::FalseAlarm))
    );
    let stored = store.alert(&a.id).unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.assignee.as_deref(), stored.reason),
        (
            AlertStatus::Resolved,
            Some("ops"),
            Some(FalseAlarmReason::Dancing)
        )
    );
    let resolved = store
        .alerts(&AlertFilter {
            status: Some(AlertStatus::Resolved),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(resolved.len(), 1);
    // Resolving an alert nobody acknowledged acknowledges it as the resolver.
    let b = store.create_alert(&new_alert("gate", 300)).unwrap();
    let u = store
        .update_alert(
            &b.id,
            &AlertChange {
                resolve: Some(crate::Resolution {
                    user: "lead".into(),
                    outcome: Outcome::Test,
                    reason: None,
                    note: None,
                }),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (u.acked_by.as_deref(), u.outcome),
        (Some("lead"), Some(Outcome::Test))
    );
}

/// A pipeline alert of `camera` at site `hq`, with a snapshot name.
pub(crate) fn new_alert(camera: &str, started_at: u64) -> NewAlert {
    NewAlert {
        camera: camera.into(),
        site: "hq".into(),
        label: "fight".into(),
        score: 0.8,
        started_at,
        snapshot: Some("snap.jpg".into()),
        source: "pipeline".into(),
        region: None,
        heatmap: None,
    }
}

/// Alerts, their updates and acknowledgements are events numbered 1, 2, 3, … in order; an
/// alert's timeline holds its own events only; an unknown alert is `NoSuchAlert`.
pub fn events_are_numbered_in_commit_order(store: &dyn AlertStore) {
    let a = store.create_alert(&new_alert("lobby", 100)).unwrap();
    assert_eq!((a.seq, a.id.as_str()), (1, "a1"));
    assert_eq!(
        a.snapshot_url.as_deref(),
        Some("/api/alerts/a1/snapshot.jpg")
    );
    let u = store
        .update_alert(
            &a.id,
            &AlertChange {
                peak: Some(0.95),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (u.seq, u.status, u.peak_score),
        (2, AlertStatus::Active, 0.95)
    );
    let u = store
        .update_alert(
            &a.id,
            &AlertChange {
                peak: Some(0.5),
                ended_at: Some(200),
                ..AlertChange::default()
            },
        )
        .unwrap();
    assert_eq!(
        (u.status, u.peak_score, u.ended_at),
        (AlertStatus::Ended, 0.95, Some(200))
    );
    let u = store
        .update_alert(
            &a.id,
            &AlertChange {
                ack: Some(("ops".into(), Some("handled".into()))),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (u.status, u.acked_by.as_deref(), u.note.as_deref()),
        (AlertStatus::Acknowledged, Some("ops"), Some("handled"))
    );
    let events = store.events_after(0, 100).unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq().unwrap()).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert_eq!(store.events_after(2, 100).unwrap().len(), 2);
    assert_eq!(store.last_seq().unwrap(), 4);
    // Another alert on the same camera is not part of a1's timeline.
    let b = store.create_alert(&new_alert("lobby", 300)).unwrap();
    store
        .update_alert(
            &b.id,
            &AlertChange {
                peak: Some(0.9),
                ..Default::default()
            },
        )
        .unwrap();
    let timeline = store.alert_events("a1").unwrap();
    assert_eq!(
        timeline
            .iter()
            .map(|(_, e)| e.seq().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(timeline.iter().all(|(at, _)| *at > 1_700_000_000_000));
    assert_eq!(store.alert_events(&b.id).unwrap().len(), 2);
    assert!(store.alert_events("a99").unwrap().is_empty());
    assert!(matches!(
        store.update_alert("a99", &AlertChange::default()),
        Err(StoreError::NoSuchAlert(_))
    ));
}

/// Users are stored, replaced and listed; an unknown one is `None`.
pub fn users_round_trip(store: &dyn AlertStore) {
    assert_eq!(store.user_count().unwrap(), 0);
    let u = UserRecord {
        name: "ops".into(),
        role: Role::Operator,
        password_hash: "$argon2id$x".into(),
        cameras: Some(vec!["lobby".into()]),
    };
    store.put_user(&u).unwrap();
    assert_eq!(store.user("ops").unwrap(), Some(u.clone()));
    store
        .put_user(&UserRecord {
            role: Role::Admin,
            cameras: None,
            ..u
        })
        .unwrap();
    assert_eq!(store.user("ops").unwrap().unwrap().role, Role::Admin);
    assert_eq!(store.user_count().unwrap(), 1);
    assert_eq!(
        store.user_names().unwrap(),
        vec![("ops".to_string(), Role::Admin)]
    );
    assert_eq!(store.user("nobody").unwrap(), None);
}

/// Filters, paging, chat history, snapshot bookkeeping and retention.
pub fn filters_paging_chat_and_retention(store: &dyn AlertStore) {
    for i in 0..5 {
        store
            .create_alert(&new_alert(
                if i % 2 == 0 { "lobby" } else { "gate" },
                100 + i,
            ))
            .unwrap();
    }
    store.add_message("site:hq", "ops", "on my way").unwrap();
    let lobby = store
        .alerts(&AlertFilter {
            camera: Some("lobby".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        lobby.iter().map(|a| a.seq).collect::<Vec<_>>(),
        vec![5, 3, 1]
    );
    let page = store
        .alerts(&AlertFilter {
            limit: 2,
            before_seq: Some(4),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![3, 2]);
    let since = store
        .alerts(&AlertFilter {
            since: Some(103),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(since.len(), 2);
    let day = store
        .alerts(&AlertFilter {
            since: Some(101),
            until: Some(103),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(day.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![3, 2]);
    let msgs = store.messages("site:hq", 10).unwrap();
    assert_eq!(
        (msgs.len(), msgs[0].text.as_str(), msgs[0].seq),
        (1, "on my way", 6)
    );
    let next = store.create_alert(&new_alert("lobby", 200)).unwrap();
    assert_eq!(next.seq, 7);
    // a2 gets its clip; the update that records an export names the exporter once.
    let clip = fightwatch_protocol::ClipInfo {
        file: "lobby-a2.mp4".into(),
        duration_ms: 12_000,
        bytes: 1234,
        sha256: "ab".repeat(32),
        method: "remux".into(),
        start_ms: 5000,
        peak_ms: Some(6000),
        end_ms: None,
    };
    let with_clip = store
        .update_alert(
            "a2",
            &AlertChange {
                clip: Some(clip.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(with_clip.clip.as_deref(), Some(&clip));
    let exported = store
        .update_alert(
            "a2",
            &AlertChange {
                exported_by: Some("lead".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (exported.exported_by.as_deref(), exported.clip.as_deref()),
        (Some("lead"), Some(&clip)),
        "the clip stays"
    );
    assert_eq!(store.alert("a2").unwrap().unwrap().clip, Some(clip));
    let oldest = store.oldest_media(2).unwrap();
    assert_eq!(
        oldest.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        vec!["a1", "a2"]
    );
    assert_eq!(oldest[1].1.len(), 2, "a2's snapshot and clip: {oldest:?}");
    store.clear_media("a1").unwrap();
    assert_eq!(store.oldest_media(1).unwrap()[0].0, "a2");
    let gone = store.prune(103).unwrap();
    // a1's snapshot was already cleared; a2's snapshot and clip go with a2.
    assert_eq!(gone.len(), 3, "{gone:?}");
    assert!(gone.contains(&"lobby-a2.mp4".to_string()));
    assert_eq!(store.alerts(&AlertFilter::default()).unwrap().len(), 3);
}

/// Sessions are revoked by logout, by a change of their user and by its deletion, each
/// once, and every revocation grows the revision.
pub fn sessions_are_revoked(store: &dyn AlertStore) {
    let session = |id: &str, user: &str| SessionRecord {
        id: id.into(),
        user: user.into(),
        created_at: 1,
        expires_at: u64::MAX / 2,
        revoked_at: None,
    };
    for (id, user) in [("s1", "ops"), ("s2", "ops"), ("s3", "lead")] {
        store.create_session(&session(id, user)).unwrap();
    }
    assert_eq!(store.revocation_revision().unwrap(), 0);
    assert!(store.session("s1").unwrap().unwrap().is_valid(2));
    assert!(store.revoke_session("s1").unwrap());
    assert!(!store.revoke_session("s1").unwrap(), "only once");
    assert!(!store.session("s1").unwrap().unwrap().is_valid(2));
    assert_eq!(store.revocation_revision().unwrap(), 1);
    // Changing a user (role, cameras, password) revokes what it had.
    store
        .put_user(&UserRecord {
            name: "ops".into(),
            role: Role::Viewer,
            password_hash: "x".into(),
            cameras: None,
        })
        .unwrap();
    assert!(!store.session("s2").unwrap().unwrap().is_valid(2));
    assert!(store.session("s3").unwrap().unwrap().is_valid(2));
    assert!(store.delete_user("ops").unwrap());
    assert!(store.user("ops").unwrap().is_none());
    assert_eq!(store.revoke_user_sessions("lead").unwrap(), 1);
    assert_eq!(store.revocation_revision().unwrap(), 3);
    assert!(store.session("nope").unwrap().is_none());
    assert!(!session("x", "y").is_valid(u64::MAX));
}
