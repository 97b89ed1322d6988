package review

import (
	"bytes"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/daemonguard/daemonguard/internal/defaults"
	"github.com/daemonguard/daemonguard/mutators/patch"
	"github.com/daemonguard/daemonguard/validators"
)

// hasOld reports whether an UPDATE review carries an old object.
func (r *Request) hasOld() bool {
	if r.oldDecoded {
		return r.oldDaemonSet != nil
	}
	old := bytes.TrimSpace(r.OldObject)
	return len(old) > 0 && !bytes.Equal(old, []byte("null"))
}

// old is the old object, decoded on first use. One that cannot be decoded
// is nil: it excuses no finding and counts as a changed template, so an
// unreadable old object never lets more through.
func (r *Request) old() *appsv1.DaemonSet {
	if !r.oldDecoded {
		r.oldDecoded = true
		if ds, err := decodeDaemonSet(r.OldObject); err == nil {
			r.oldDaemonSet = ds
			if ds != nil && r.defaulted {
				defaults.DaemonSet(ds)
				defaults.AsServerKeeps(ds, r.serverMinor)
			}
		}
	}
	return r.oldDaemonSet
}

// previous is a review's old object as the policy asks for it.
type previous struct{ r *Request }

func (p previous) DaemonSet() *appsv1.DaemonSet { return p.r.old() }

// TemplateUnchanged compares the pod templates and update strategies as the
// API server sent them first: it encodes both objects alike, so the same
// bytes are the same template, and only different bytes cost decoding the
// old object for a semantic comparison.
func (p previous) TemplateUnchanged(ds *appsv1.DaemonSet) bool {
	if sameJSON(p.r.object(), p.r.OldObject, "/spec/template") && sameJSON(p.r.object(), p.r.OldObject, "/spec/updateStrategy") {
		return true
	}
	old := p.r.old()
	return old != nil && validators.TemplateUnchanged(old, ds)
}

// sameJSON reports whether the value at pointer is byte for byte the same
// in both documents, or absent from both.
func sameJSON(a, b []byte, pointer string) bool {
	as, ae, afound := patch.Locate(a, pointer)
	bs, be, bfound := patch.Locate(b, pointer)
	if !afound || !bfound {
		return afound == bfound && len(a) > 0 && len(b) > 0
	}
	return bytes.Equal(a[as:ae], b[bs:be])
}
