// Package activitylog makes the activity trail tamper-evident and portable.
//
// Every activity belongs to a chain: its organization's (the chain is the
// organization's ID) or, for rows without an organization, the platform's
// (PlatformChain). Rows of a chain are numbered from 1 (seq) in the order
// they were written, and each stores the hash of its canonical content
// together with the hash of the row before it (prev_hash), so that an
// edit, a deletion or a reordering of rows breaks the chain at that row.
// The head of each chain (table cf_activity_chains) holds the newest
// position and hash, and the anchor left by pruning: the position and hash
// of the newest deleted row, which the oldest kept row links to.
//
// Verify walks a chain in the database, VerifyFile a JSON Lines export
// written by Export; Prune deletes old rows in bounded batches and moves
// the anchor. The hash of a row is
//
//	hex(SHA-256("cf-activity-v1\n" + canonical JSON of the Entry without hash))
//
// where the canonical JSON is the Entry's fields in their declared order,
// occurred_at in UTC with microseconds, and data re-encoded with sorted
// keys, so that anyone can recompute it from an export.
package activitylog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/pulid"
)

// PlatformChain is the chain of the activities without an organization.
const PlatformChain = "platform"

// hashPrefix versions the hash construction.
const hashPrefix = "cf-activity-v1\n"

// TimeLayout is the layout of occurred_at in the canonical content and in
// exports: UTC with microseconds, the precision both databases keep.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// ChainOf returns the chain of an activity of organization org ("" for
// none).
func ChainOf(org pulid.ID) string {
	if org == "" {
		return PlatformChain
	}
	return string(org)
}

// Entry is one activity as it is hashed and exported: a line of an export
// is an Entry in JSON.
type Entry struct {
	ID             string         `json:"id"`
	Chain          string         `json:"chain"`
	Seq            int64          `json:"seq"`
	OrganizationID string         `json:"organization_id"`
	ActorType      string         `json:"actor_type"`
	ActorUserID    string         `json:"actor_user_id"`
	ActorAPIKeyID  string         `json:"actor_api_key_id"`
	ActorLabel     string         `json:"actor_label"`
	ActorDisplay   string         `json:"actor_display"`
	ImpersonatorID string         `json:"impersonator_id"`
	Verb           string         `json:"verb"`
	ObjectType     string         `json:"object_type"`
	ObjectID       string         `json:"object_id"`
	Targets        []string       `json:"targets"`
	Channel        string         `json:"channel"`
	IP             string         `json:"ip"`
	UserAgent      string         `json:"user_agent"`
	RequestID      string         `json:"request_id"`
	OccurredAt     string         `json:"occurred_at"`
	Data           map[string]any `json:"data"`
	PrevHash       string         `json:"prev_hash"`
	Hash           string         `json:"hash,omitempty"`
}

// FromActivity returns the Entry of a stored activity.
func FromActivity(a *ent.Activity) Entry {
	str := func(p *pulid.ID) string {
		if p == nil {
			return ""
		}
		return string(*p)
	}
	return Entry{
		ID: string(a.ID), Chain: a.Chain, Seq: a.Seq,
		OrganizationID: str(a.OrganizationID), ActorType: string(a.ActorType),
		ActorUserID: str(a.ActorUserID), ActorAPIKeyID: str(a.ActorAPIKeyID),
		ActorLabel: a.ActorLabel, ActorDisplay: a.ActorDisplay, ImpersonatorID: str(a.ImpersonatorID),
		Verb: a.Verb, ObjectType: a.ObjectType, ObjectID: a.ObjectID, Targets: a.Targets,
		Channel: a.Channel, IP: a.IP, UserAgent: a.UserAgent, RequestID: a.RequestID,
		OccurredAt: FormatTime(a.CreatedAt), Data: a.Data,
		PrevHash: a.PrevHash, Hash: a.Hash,
	}
}

// FormatTime formats t as occurred_at is hashed.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// Canonical returns the bytes the hash of e is computed over: e without its
// hash, as JSON, with data and targets normalized (no targets and empty
// targets are the same; data goes through a JSON round trip, as it does in
// the database).
func Canonical(e Entry) ([]byte, error) {
	e.Hash = ""
	if len(e.Targets) == 0 {
		e.Targets = []string{}
	}
	if len(e.Data) == 0 {
		e.Data = map[string]any{}
	} else {
		raw, err := json.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("activitylog: encoding the data of %s: %w", e.ID, err)
		}
		var norm map[string]any
		if err := json.Unmarshal(raw, &norm); err != nil {
			return nil, fmt.Errorf("activitylog: decoding the data of %s: %w", e.ID, err)
		}
		e.Data = norm
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("activitylog: encoding %s: %w", e.ID, err)
	}
	return b, nil
}

// HashOf returns the hash of e: SHA-256 over the version prefix and
// Canonical(e), in hex.
func HashOf(e Entry) (string, error) {
	b, err := Canonical(e)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(hashPrefix))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}
