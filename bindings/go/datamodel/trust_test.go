package datamodel

import (
	"math"
	"testing"
)

// Labels never silently change meaning: the trained labels asked in another
// order reorder the head (each name keeps what it predicts), other names
// over a trained head fail unless NewHead is set.
func TestModelLabelsCannotFlip(t *testing.T) {
	texts := []string{"the boat was boring", "we enjoyed the garden"}
	plain := loadTiny(t, nil)
	want, err := plain.Predict(texts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reordered := loadTiny(t, &ModelOptions{Labels: []string{"positive", "negative", "neutral"}})
	got, err := reordered.Predict(texts, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]int{"negative": 0, "neutral": 1, "positive": 2}
	for i := range texts {
		for j, name := range reordered.Labels() {
			if d := math.Abs(float64(got.Probs[i][j] - want.Probs[i][index[name]])); d > 1e-6 {
				t.Errorf("text %d, %s: %v vs %v", i, name, got.Probs[i][j], want.Probs[i][index[name]])
			}
		}
	}
	_, err = LoadModel(tinyDir, &ModelOptions{Labels: []string{"bad", "ok", "good"}})
	wantStatus(t, err, StatusInvalidArgument, "other names over a trained head")
	m := loadTiny(t, &ModelOptions{Labels: []string{"bad", "ok", "good"}, NewHead: true})
	if info, _ := m.Info(); !info.NewHead {
		t.Errorf("NewHead: %+v", info)
	}
	if StatusName(StatusBusy) != "DM_ERR_BUSY" {
		t.Errorf("StatusName(StatusBusy) = %q", StatusName(StatusBusy))
	}
}
