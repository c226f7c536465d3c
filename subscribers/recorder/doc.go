// Package recorder is an opt-in subscriber that writes down, in the database, which events it
// handled: topic, event id (a webhook's delivery id), the first time it was handled and how
// many times it was delivered. It answers "did every acknowledged webhook reach a
// subscriber?" — the reliability tests read its table after killing and restarting Stagebus,
// and an operator can use it to check a deployment end to end.
//
// It is off unless events.recorder.topics names topics. events.recorder.handlerDelay makes
// each delivery wait first (a slow subscriber, so that a backlog builds up in tests); the wait
// ends when the subscription stops.
package recorder
