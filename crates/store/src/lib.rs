/*!
SQLite persistence for fightwatch: alerts, acknowledgements, events, chat, users.

Alerts are committed here before any dashboard sees them, and the event log with its
monotonically increasing sequence numbers is what lets a reconnecting dashboard recover what it
missed. It sits behind a small interface so another store can replace it. Built by the
broadcaster and store issue (#6); until then this crate holds nothing, rather than a stand-in.
*/
