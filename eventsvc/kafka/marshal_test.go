package kafka

import (
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/stagebus/stagebus/eventsvc"
)

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.UTC)
	msg := message.NewMessage("delivery-1", []byte(`{"a":1}`))
	msg.Metadata = message.Metadata{
		eventsvc.MetaKeyHeader:  "acme/widgets",
		eventsvc.MetaTimeHeader: strconv.FormatInt(at.UnixNano(), 10),
		"X-GitHub-Event":        "push",
		"Content-Type":          "application/json",
		"ce_id":                 "forged",
		eventsvc.ReservedMetadataPrefix + "other": "private",
	}
	rec := toRecord("stagebus.github", "github", msg)
	require.Equal(t, "stagebus.github", rec.Topic)
	require.Equal(t, []byte("acme/widgets"), rec.Key)
	require.True(t, at.Equal(rec.Time))
	headers := map[string]string{}
	for _, h := range rec.Headers {
		_, dup := headers[h.Key]
		require.False(t, dup, "header %s twice", h.Key)
		headers[h.Key] = string(h.Value)
	}
	require.Equal(t, map[string]string{
		"ce_specversion": "1.0",
		"ce_id":          "delivery-1",
		"ce_source":      "/stagebus/github",
		"ce_type":        "dev.stagebus.github",
		"ce_time":        "2026-11-26T12:00:00.123456789Z",
		"X-GitHub-Event": "push",
		"content-type":   "application/json",
	}, headers)

	rec.Partition, rec.Offset = 2, 41
	back := fromRecord(rec)
	require.Equal(t, "delivery-1", back.UUID)
	require.Equal(t, msg.Payload, back.Payload)
	require.Equal(t, "acme/widgets", back.Metadata.Get(eventsvc.MetaKeyHeader))
	require.Equal(t, msg.Metadata.Get(eventsvc.MetaTimeHeader), back.Metadata.Get(eventsvc.MetaTimeHeader))
	require.Equal(t, "push", back.Metadata.Get("X-GitHub-Event"))
}

func TestForeignRecord(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	back := fromRecord(kafkago.Message{Topic: "t", Partition: 1, Offset: 7, Value: []byte("x"), Time: at,
		Headers: []kafkago.Header{{Key: "source", Value: []byte("kcat")}, {Key: eventsvc.MetaKeyHeader, Value: []byte("smuggled")}}})
	require.Equal(t, "kafka:t:1:7", back.UUID)
	require.Equal(t, "kcat", back.Metadata.Get("source"))
	require.Empty(t, back.Metadata.Get(eventsvc.MetaKeyHeader), "a header cannot forge the bus's own metadata")
	require.Equal(t, strconv.FormatInt(at.UnixNano(), 10), back.Metadata.Get(eventsvc.MetaTimeHeader))
}

func FuzzFromRecord(f *testing.F) {
	f.Add("ce_id", "x", "ce_time", "2026-11-26T12:00:00Z", []byte("key"), []byte("value"))
	f.Add("ce_time", "not a time", "stagebus-key", "k", []byte{}, []byte{0xff})
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, key, value []byte) {
		rec := kafkago.Message{Topic: "t", Partition: 3, Offset: 9, Key: key, Value: value,
			Headers: []kafkago.Header{{Key: k1, Value: []byte(v1)}, {Key: k2, Value: []byte(v2)}}}
		msg := fromRecord(rec)
		if msg.UUID == "" {
			t.Fatal("no id")
		}
		back := toRecord("t", "t", msg)
		if string(back.Value) != string(value) {
			t.Fatal("payload changed")
		}
	})
}
