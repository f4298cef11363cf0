/*!
WebSocket and HTTP server of fightwatch: pushes fight alerts to every dashboard.

The last stage of the pipeline (capture → inference → alerts → **broadcaster**): dashboards
connect over WebSocket, join rooms per camera and site, and receive `fight_alert` and
`metric_update` events; REST routes serve history and snapshots. Built by the broadcaster
issue (#6); until then this crate holds nothing, rather than a stand-in.
*/
