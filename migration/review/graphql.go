package review

import (
	"fmt"

	"github.com/cf/identity/graph/schemadiff"
)

// GraphQLReport is the comparison of the GraphQL schema with the base's.
type GraphQLReport struct {
	// Path is the schema folder as shown to a reviewer ("graph").
	Path string
	// AckFile is the acknowledgement file as shown ("graph/BREAKING.md").
	AckFile string
	// Skipped says why the schema was not compared; "" when it was.
	Skipped string
	// Err is set when a schema could not be read or loaded.
	Err error
	// Changes from the base's schema, breaking ones with their Ack when
	// acknowledged.
	Changes []schemadiff.Change
	// UnusedAcks are acknowledgements added by the change that cover no
	// breaking change.
	UnusedAcks []schemadiff.Ack
	// AckErrors are acknowledgements added by the change that cannot be
	// used (no reason).
	AckErrors []error
}

// CompareGraphQL compares the schema made of head with the one made of base
// and applies the acknowledgements that headAcks adds to baseAcks (contents
// of the acknowledgement file, nil when missing).
func CompareGraphQL(base, head []schemadiff.Source, baseAcks, headAcks []byte) *GraphQLReport {
	r := &GraphQLReport{Path: "graph", AckFile: "graph/" + schemadiff.AckFile}
	old, err := schemadiff.Load(base...)
	if err != nil {
		r.Err = fmt.Errorf("the base's schema: %w", err)
		return r
	}
	cur, err := schemadiff.Load(head...)
	if err != nil {
		r.Err = err
		return r
	}
	r.Changes = schemadiff.Compare(old, cur)
	acks, errs := schemadiff.NewAcks(baseAcks, headAcks)
	r.AckErrors = errs
	r.UnusedAcks = schemadiff.Acknowledge(r.Changes, acks)
	return r
}

// Problems lists what fails the check: unacknowledged breaking changes,
// acknowledgements without a reason, and schemas that do not load.
func (r *GraphQLReport) Problems() []string {
	var out []string
	if r.Err != nil {
		out = append(out, fmt.Sprintf("graphql: %v", r.Err))
	}
	for _, c := range schemadiff.Unacknowledged(r.Changes) {
		out = append(out, fmt.Sprintf("graphql: breaking change %s: %s. If this is intended, add \"- `%s` WHY\" to %s.", c.Coordinate, c.Message, c.Coordinate, r.AckFile))
	}
	for _, e := range r.AckErrors {
		out = append(out, fmt.Sprintf("graphql: %s %v", r.AckFile, e))
	}
	return out
}

// Counts sorts the changes: breaking ones not acknowledged, acknowledged
// breaking ones, additions, and the other (safe) changes.
func (g *GraphQLReport) Counts() (breaking, acked, added, other int) {
	for _, c := range g.Changes {
		switch {
		case c.Breaking && c.Ack == nil:
			breaking++
		case c.Breaking:
			acked++
		case c.Kind == schemadiff.Added:
			added++
		default:
			other++
		}
	}
	return breaking, acked, added, other
}
