package quotawatch

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/taskroute/taskroute/internal/matching"
)

func TestParsePartial(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	i := func(v int) *int { return &v }
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		key, value string
		want       Partial
		field      string // expected FieldError.Field when errSub is set
		errSub     string
	}{
		{key: "team-a", value: "maxBacklog: 5000\naddRate: 2.5", want: Partial{MaxBacklog: i64(5000), AddRate: f(2.5)}},
		{key: "team-a", value: `{"maxPayloadBytes":1024,"maxQueues":0,"addBurst":7}`, want: Partial{MaxPayloadBytes: i(1024), MaxQueues: i(0), AddBurst: i(7)}},
		{key: "_default", value: "{}", want: Partial{}},
		{key: "team-a", value: "maxBacklogg: 1", field: "maxBacklogg", errSub: "unknown field"},
		{key: "team-a", value: "maxQueues: -1", field: "maxQueues", errSub: ">= 0"},
		{key: "team-a", value: "maxQueues: 1.5", field: "maxQueues", errSub: "whole number"},
		{key: "team-a", value: "maxBacklog: lots", field: "maxBacklog", errSub: "whole number"},
		{key: "team-a", value: "addRate: -3", field: "addRate", errSub: ">= 0"},
		{key: "team-a", value: "addRate: .inf", errSub: "unsupported value"},
		{key: "team-a", value: "- 1\n- 2", errSub: "want an object"},
		{key: "team-a", value: "", errSub: "want an object"},
		{key: "team-a", value: "maxBacklog: [", errSub: "not YAML"},
		{key: "Team_A", value: "maxBacklog: 1", errSub: "not a namespace name"},
		{key: "team-a", value: "maxBacklog: 1" + strings.Repeat(" ", maxValueBytes), errSub: "over the limit"},
	}
	for _, tt := range tests {
		got, err := ParsePartial(tt.key, []byte(tt.value))
		if tt.errSub == "" {
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParsePartial(%q, %q) = %+v, %v; want %+v", tt.key, tt.value, got, err, tt.want)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.errSub) || fe.Key != tt.key || fe.Field != tt.field {
			t.Errorf("ParsePartial(%q, %q) error = %v; want a FieldError on key %q field %q containing %q", tt.key, tt.value, err, tt.key, tt.field, tt.errSub)
		}
	}
}

func TestMergePrecedence(t *testing.T) {
	flags := matching.Quota{MaxBacklog: 100, MaxPayloadBytes: 1000, MaxQueues: 10, AddRate: 5, AddBurst: 50}
	over, err := ParseOverrides([]byte(`{"_default":{"maxQueues":20},"team-a":{"maxBacklog":200,"addRate":6},"team-b":{"addBurst":60}}`))
	if err != nil {
		t.Fatal(err)
	}
	base := Base{Default: flags, Overrides: over}
	cm := map[string]Partial{}
	for k, v := range map[string]string{"_default": "maxPayloadBytes: 2000\nmaxQueues: 30", "team-a": "addRate: 7", "team-c": "maxBacklog: 0", "default": "maxQueues: 3"} {
		p, err := ParsePartial(k, []byte(v))
		if err != nil {
			t.Fatal(err)
		}
		cm[k] = p
	}

	got := Merge(base, cm)
	def := matching.Quota{MaxBacklog: 100, MaxPayloadBytes: 2000, MaxQueues: 30, AddRate: 5, AddBurst: 50}
	want := matching.Quotas{Default: def, Overrides: map[string]matching.Quota{
		// ConfigMap key > --quota-overrides key > ConfigMap default > flags.
		"team-a": {MaxBacklog: 200, MaxPayloadBytes: 2000, MaxQueues: 30, AddRate: 7, AddBurst: 50},
		"team-b": {MaxBacklog: 100, MaxPayloadBytes: 2000, MaxQueues: 30, AddRate: 5, AddBurst: 60},
		"team-c": {MaxBacklog: 0, MaxPayloadBytes: 2000, MaxQueues: 30, AddRate: 5, AddBurst: 50},
		// The namespace named "default" is a namespace like any other.
		"default": {MaxBacklog: 100, MaxPayloadBytes: 2000, MaxQueues: 3, AddRate: 5, AddBurst: 50},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Merge =\n%+v\nwant\n%+v", got, want)
	}

	// Without the ConfigMap: the flags and --quota-overrides alone.
	got = Merge(base, nil)
	if got.Default.MaxQueues != 20 || got.Default.MaxPayloadBytes != 1000 || len(got.Overrides) != 2 ||
		got.Overrides["team-a"].AddRate != 6 || got.Overrides["team-a"].MaxQueues != 20 {
		t.Fatalf("Merge without ConfigMap = %+v", got)
	}
	if got := Merge(Base{Default: flags}, nil); !reflect.DeepEqual(got, matching.Quotas{Default: flags}) {
		t.Fatalf("Merge of flags alone = %+v", got)
	}
}
