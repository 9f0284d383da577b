package datamodel

/*
#include <stdlib.h>
#include <datamodel.h>
*/
import "C"

import (
	"math"
	"unsafe"
)

// ClassMetrics are the metrics of one class in a Report.
type ClassMetrics struct {
	Name                  string
	Precision, Recall, F1 float64 // 0 when undefined (scikit-learn's zero_division=0)
	Support               uint64  // true examples of the class
	ROCAUC                float64 // one-vs-rest; NaN when undefined or without probabilities
}

// Report holds classification metrics equal to scikit-learn's
// (dm_eval_report), copied into Go memory: it keeps no C memory and needs no
// closing. Undefined values are NaN.
type Report struct {
	NExamples                                     int
	Labels                                        []string // class names, in class id order
	Accuracy                                      float64
	MacroPrecision, MacroRecall, MacroF1          float64
	WeightedPrecision, WeightedRecall, WeightedF1 float64
	LogLoss                                       float64 // NaN without probabilities
	// ROCAUC: binary: of class 1's probability; else the one-vs-rest macro
	// average over every class, as scikit-learn's: NaN when a class's AUC is
	// undefined (no true example of it, or only those; PerClass keeps the
	// others') and without probabilities.
	ROCAUC float64
	// Loss is the mean cross-entropy of a model (Model.Evaluate); NaN from
	// Metrics.
	Loss     float64
	PerClass []ClassMetrics
	// Confusion[i][j] counts examples of true class i predicted as class j.
	Confusion [][]uint64
}

// NClasses returns the number of classes.
func (r *Report) NClasses() int { return len(r.Labels) }

// copyReport copies a C report into Go memory; the caller frees r.
func copyReport(r *C.dm_eval_report) *Report {
	k := int(r.n_classes)
	out := &Report{
		NExamples:         int(r.n_examples),
		Labels:            make([]string, k),
		Accuracy:          float64(r.accuracy),
		MacroPrecision:    float64(r.macro_precision),
		MacroRecall:       float64(r.macro_recall),
		MacroF1:           float64(r.macro_f1),
		WeightedPrecision: float64(r.weighted_precision),
		WeightedRecall:    float64(r.weighted_recall),
		WeightedF1:        float64(r.weighted_f1),
		LogLoss:           float64(r.log_loss),
		ROCAUC:            float64(r.roc_auc),
		Loss:              float64(r.loss),
		PerClass:          make([]ClassMetrics, k),
		Confusion:         make([][]uint64, k),
	}
	if k == 0 {
		return out
	}
	names := unsafe.Slice((**C.char)(unsafe.Pointer(r.label_names)), k)
	per := unsafe.Slice(r.per_class, k)
	conf := unsafe.Slice((*uint64)(unsafe.Pointer(r.confusion)), k*k)
	flat := make([]uint64, k*k)
	copy(flat, conf)
	for j := 0; j < k; j++ {
		if names[j] != nil {
			out.Labels[j] = C.GoString(names[j])
		}
		out.PerClass[j] = ClassMetrics{
			Name:      out.Labels[j],
			Precision: float64(per[j].precision),
			Recall:    float64(per[j].recall),
			F1:        float64(per[j].f1),
			Support:   uint64(per[j].support),
			ROCAUC:    float64(per[j].roc_auc),
		}
		out.Confusion[j] = flat[j*k : (j+1)*k : (j+1)*k]
	}
	return out
}

// takeReport copies a report returned by the library and frees it.
func takeReport(r *C.dm_eval_report) *Report {
	out := copyReport(r)
	C.dm_eval_report_free(r)
	return out
}

// withC rebuilds the report in C memory for the formatting calls.
func (r *Report) withC(f func(*C.dm_eval_report) C.dm_status) error {
	k := len(r.Labels)
	if len(r.PerClass) != k || len(r.Confusion) != k {
		return newError(StatusInvalidArgument, "Report: %d labels, %d PerClass entries and %d Confusion rows",
			k, len(r.PerClass), len(r.Confusion))
	}
	for i, row := range r.Confusion {
		if len(row) != k {
			return newError(StatusInvalidArgument, "Report: Confusion row %d has %d counts, expected %d", i, len(row), k)
		}
	}
	if err := checkNoNUL("Report.Labels", r.Labels); err != nil {
		return err
	}
	names := newCStringBlock(r.Labels)
	defer names.free()
	n := k
	if n == 0 {
		n = 1
	}
	per := (*C.dm_class_metrics)(C.calloc(C.size_t(n), C.sizeof_dm_class_metrics))
	defer C.free(unsafe.Pointer(per))
	conf := (*C.uint64_t)(C.calloc(C.size_t(n*n), 8))
	defer C.free(unsafe.Pointer(conf))
	perS := unsafe.Slice(per, n)
	confS := unsafe.Slice((*uint64)(unsafe.Pointer(conf)), n*n)
	for j, pc := range r.PerClass {
		perS[j] = C.dm_class_metrics{precision: C.double(pc.Precision), recall: C.double(pc.Recall),
			f1: C.double(pc.F1), support: C.uint64_t(pc.Support), roc_auc: C.double(pc.ROCAUC)}
		copy(confS[j*k:], r.Confusion[j])
	}
	c := (*C.dm_eval_report)(C.calloc(1, C.sizeof_dm_eval_report))
	defer C.free(unsafe.Pointer(c))
	c.n_examples = C.size_t(r.NExamples)
	c.n_classes = C.size_t(k)
	c.label_names = names.ptrs[0]
	c.accuracy = C.double(r.Accuracy)
	c.macro_precision = C.double(r.MacroPrecision)
	c.macro_recall = C.double(r.MacroRecall)
	c.macro_f1 = C.double(r.MacroF1)
	c.weighted_precision = C.double(r.WeightedPrecision)
	c.weighted_recall = C.double(r.WeightedRecall)
	c.weighted_f1 = C.double(r.WeightedF1)
	c.log_loss = C.double(r.LogLoss)
	c.roc_auc = C.double(r.ROCAUC)
	c.loss = C.double(r.Loss)
	c.per_class = per
	c.confusion = conf
	return call(func() C.dm_status { return f(c) })
}

// JSON returns the report as one JSON object (dm_eval_report_json):
// accuracy, macro_f1, macro/weighted averages, per_class (name -> precision,
// recall, f1, support, roc_auc), confusion_matrix, log_loss, roc_auc, labels;
// NaN as null. Label names must be distinct.
func (r *Report) JSON() ([]byte, error) {
	var out *C.char
	var n C.size_t
	err := r.withC(func(c *C.dm_eval_report) C.dm_status { return C.dm_eval_report_json(c, &out, &n) })
	if err != nil {
		return nil, err
	}
	b := C.GoBytes(unsafe.Pointer(out), C.int(n))
	C.dm_free(unsafe.Pointer(out))
	return b, nil
}

// Text returns the report laid out like scikit-learn's classification_report
// with digits decimals (0 to 100; 0 rounds to whole numbers, as
// classification_report(digits=0); its default is 2), followed by the
// confusion matrix (dm_eval_report_text).
func (r *Report) Text(digits int) (string, error) {
	if digits < 0 || digits > math.MaxInt32 {
		return "", newError(StatusRange, "Report.Text: digits = %d (expected 0 to 100)", digits)
	}
	var out *C.char
	var n C.size_t
	err := r.withC(func(c *C.dm_eval_report) C.dm_status {
		return C.dm_eval_report_text(c, C.int(digits), &out, &n)
	})
	if err != nil {
		return "", err
	}
	s := C.GoStringN(out, C.int(n))
	C.dm_free(unsafe.Pointer(out))
	return s, nil
}

// MetricsOptions are the optional inputs of Metrics. A nil pointer means none.
type MetricsOptions struct {
	// Probs, when not nil, holds one row of NClasses class probabilities per
	// example (each in [0, 1], used as given) for LogLoss and ROCAUC.
	Probs [][]float32
	// Labels names the classes (nil: "0", "1", ...).
	Labels []string
	// NClasses: 0 takes len(Labels), else the width of Probs, else the
	// largest class id + 1.
	NClasses int
}

// Metrics computes classification metrics equal to scikit-learn's from true
// and predicted class ids 0 .. NClasses-1 (dm_metrics_compute). One class is
// allowed, without Probs (classification_report(labels=[a])). opts may be
// nil.
func Metrics(yTrue, yPred []int, opts *MetricsOptions) (*Report, error) {
	if len(yTrue) != len(yPred) {
		return nil, newError(StatusInvalidArgument, "Metrics: %d true labels but %d predictions", len(yTrue), len(yPred))
	}
	if opts == nil {
		opts = &MetricsOptions{}
	}
	n := len(yTrue)
	k := opts.NClasses
	if k == 0 {
		switch {
		case opts.Labels != nil:
			k = len(opts.Labels)
		case len(opts.Probs) > 0:
			k = len(opts.Probs[0])
		default:
			for _, ys := range [][]int{yTrue, yPred} {
				for _, y := range ys {
					if y+1 > k {
						k = y + 1
					}
				}
			}
		}
	}
	if k < 0 {
		return nil, newError(StatusInvalidArgument, "Metrics: NClasses is negative (%d)", k)
	}
	if opts.Labels != nil && len(opts.Labels) != k {
		return nil, newError(StatusInvalidArgument, "Metrics: %d label names for %d classes", len(opts.Labels), k)
	}
	yt := make([]int32, n+1) // +1: never empty, so &yt[0] is valid
	yp := make([]int32, n+1)
	for i := 0; i < n; i++ {
		for _, p := range []struct {
			src []int
			dst []int32
			nm  string
		}{{yTrue, yt, "yTrue"}, {yPred, yp, "yPred"}} {
			if p.src[i] < math.MinInt32 || p.src[i] > math.MaxInt32 {
				return nil, newError(StatusRange, "Metrics: %s[%d] = %d is not a class id", p.nm, i, p.src[i])
			}
			p.dst[i] = int32(p.src[i])
		}
	}
	var probs *C.float
	if opts.Probs != nil {
		if len(opts.Probs) != n {
			return nil, newError(StatusInvalidArgument, "Metrics: %d probability rows for %d examples", len(opts.Probs), n)
		}
		flat := make([]float32, n*k+1)
		for i, row := range opts.Probs {
			if len(row) != k {
				return nil, newError(StatusInvalidArgument, "Metrics: Probs[%d] has %d values, expected %d", i, len(row), k)
			}
			copy(flat[i*k:], row)
		}
		probs = (*C.float)(unsafe.Pointer(&flat[0]))
	}
	var names **C.char
	if opts.Labels != nil {
		if err := checkNoNUL("Metrics labels", opts.Labels); err != nil {
			return nil, err
		}
		b := newCStringBlock(opts.Labels)
		defer b.free()
		names = b.ptrs[0]
	}
	var out *C.dm_eval_report
	err := call(func() C.dm_status {
		return C.dm_metrics_compute(C.size_t(n), C.size_t(k), (*C.int32_t)(unsafe.Pointer(&yt[0])),
			(*C.int32_t)(unsafe.Pointer(&yp[0])), probs, names, &out)
	})
	if err != nil {
		return nil, err
	}
	return takeReport(out), nil
}
