package kafka

import (
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/stagebus/stagebus/eventsvc"
)

// CloudEvents binary-mode headers (Kafka protocol binding).
const (
	ceSpecVersion = "ce_specversion"
	ceID          = "ce_id"
	ceSource      = "ce_source"
	ceType        = "ce_type"
	ceTime        = "ce_time"
	ceContentType = "content-type"
	cePrefix      = "ce_"
)

// toRecord maps a Watermill message of topic to a Kafka record with CloudEvents headers.
func toRecord(kafkaTopic, topic string, msg *message.Message) kafkago.Message {
	rec := kafkago.Message{Topic: kafkaTopic, Value: msg.Payload}
	if k := msg.Metadata.Get(eventsvc.MetaKeyHeader); k != "" {
		rec.Key = []byte(k)
	}
	at := time.Now()
	if ns, err := strconv.ParseInt(msg.Metadata.Get(eventsvc.MetaTimeHeader), 10, 64); err == nil {
		at = time.Unix(0, ns)
	}
	rec.Time = at
	rec.Headers = make([]kafkago.Header, 0, len(msg.Metadata)+5)
	rec.Headers = append(rec.Headers,
		kafkago.Header{Key: ceSpecVersion, Value: []byte("1.0")},
		kafkago.Header{Key: ceID, Value: []byte(msg.UUID)},
		kafkago.Header{Key: ceSource, Value: []byte("/stagebus/" + topic)},
		kafkago.Header{Key: ceType, Value: []byte("dev.stagebus." + topic)},
		kafkago.Header{Key: ceTime, Value: []byte(at.UTC().Format(time.RFC3339Nano))},
	)
	for k, v := range msg.Metadata {
		lk := strings.ToLower(k)
		if strings.HasPrefix(k, eventsvc.ReservedMetadataPrefix) || strings.HasPrefix(lk, cePrefix) {
			continue // the bus's own, or would contradict the CloudEvents attributes
		}
		if lk == "content-type" {
			k = ceContentType
		}
		rec.Headers = append(rec.Headers, kafkago.Header{Key: k, Value: []byte(v)})
	}
	return rec
}

// fromRecord maps a Kafka record to a Watermill message; records without CloudEvents headers
// (from other producers) get an id from their position. The strings of the message — header
// values, key and time — are cut from one allocation: this runs for every record consumed.
func fromRecord(rec kafkago.Message) *message.Message {
	n, size := 2, len(rec.Key)+20 // key and time entries; the key and up to 20 digits of time
	for _, h := range rec.Headers {
		if !strings.HasPrefix(h.Key, cePrefix) {
			n++
		}
		size += len(h.Value)
	}
	var b strings.Builder
	b.Grow(size)
	cut := func(v []byte) string { // v's copy in b's one allocation
		from := b.Len()
		b.Write(v)
		return b.String()[from:]
	}
	meta := make(message.Metadata, n) // exact: a map of up to 8 is one small allocation
	id := ""
	at := rec.Time
	for _, h := range rec.Headers {
		switch h.Key {
		case ceID:
			id = cut(h.Value)
		case ceTime:
			if t, err := time.Parse(time.RFC3339Nano, cut(h.Value)); err == nil {
				at = t
			}
		case ceSpecVersion, ceSource, ceType:
		default:
			if !strings.HasPrefix(h.Key, eventsvc.ReservedMetadataPrefix) {
				meta[h.Key] = cut(h.Value)
			}
		}
	}
	if id == "" {
		id = "kafka:" + rec.Topic + ":" + strconv.Itoa(rec.Partition) + ":" + strconv.FormatInt(rec.Offset, 10)
	}
	if len(rec.Key) > 0 {
		meta[eventsvc.MetaKeyHeader] = cut(rec.Key)
	}
	if !at.IsZero() {
		var digits [20]byte
		meta[eventsvc.MetaTimeHeader] = cut(strconv.AppendInt(digits[:0], at.UnixNano(), 10))
	}
	msg := message.NewMessage(id, rec.Value)
	msg.Metadata = meta
	return msg
}
