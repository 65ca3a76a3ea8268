package graph

import (
	"github.com/cf/identity/graph/model"
	"github.com/cf/identity/preference"
	"github.com/cf/identity/pulid"
)

// The preference operations (setPreference, deletePreference,
// effectivePreferences) are calls of package preference with its Default
// service: a server declares the JSON Schemas of its keys there
// (preference.Declare) before it serves.

// idOf is the ID of an optional ID argument, "" when it is left out.
func idOf(id *pulid.ID) pulid.ID {
	if id == nil {
		return ""
	}
	return *id
}

// effectivePreferences presents the answer of preference.Effective.
func effectivePreferences(rs []preference.Resolved, err error) ([]*model.EffectivePreference, error) {
	if err != nil {
		return nil, err
	}
	out := make([]*model.EffectivePreference, len(rs))
	for i, r := range rs {
		layers := make([]*model.PreferenceLayer, len(r.Layers))
		for j, l := range r.Layers {
			layers[j] = &model.PreferenceLayer{Level: l.Level, Value: l.Value, Version: l.Version}
		}
		out[i] = &model.EffectivePreference{Key: r.Key, Value: r.Value, Source: r.Source, Layers: layers}
	}
	return out, nil
}
