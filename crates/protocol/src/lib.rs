/*!
Shared event and WebSocket message types of fightwatch.

Every stage exchanges these types, so they live in one small crate with no heavy dependencies:
the inference stage produces incident events, the store persists them, and the broadcaster
serialises them as the JSON messages (`fight_alert`, `metric_update`, `welcome_message`, …)
that dashboards receive. The types are filled in by the broadcaster issue (#6); until then this
crate holds nothing, rather than guesses.
*/
