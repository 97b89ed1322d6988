package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// gitRepoVolume denies the deprecated gitRepo volume: the kubelet runs git
// on the node, as root, with the repository URL the pod names, which has
// been a way to run code on the node (CVE-2024-10220) and to read other
// local repositories of the node (CVE-2025-1767).
type gitRepoVolume struct{}

func defineGitRepoVolume() Definition {
	return Definition{
		Meta: Meta{
			ID:           "gitrepo-volume",
			Default:      config.Enforce,
			Summary:      "a `gitRepo` volume",
			Why:          "the kubelet runs git as root on the node with the repository the pod names: code execution and reads of the node's local repositories (CVE-2024-10220, CVE-2025-1767)",
			Reads:        []string{"spec.template.spec.volumes[*].gitRepo"},
			Precondition: precondition.Atom("a gitRepo volume", precondition.AnyIn(precondition.Spec, "volumes", "v", "has(v.gitRepo)")),
		},
		New: func(Options) Rule { return gitRepoVolume{} },
	}
}

func (gitRepoVolume) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i, v := range t.DaemonSet.Spec.Template.Spec.Volumes {
		if v.GitRepo == nil {
			continue
		}
		errs = append(errs, forbidden(field.NewPath("spec", "template", "spec", "volumes").Index(i).Child("gitRepo"),
			"volume "+quote(v.Name)+" is a gitRepo volume: the kubelet runs git as root on the node with the repository it names, which has run code on the node (CVE-2024-10220) and read the node's own repositories (CVE-2025-1767); clone in an init container into an emptyDir instead",
			"gitRepo "+quote(v.GitRepo.Repository)+" "+quote(v.GitRepo.Directory)))
	}
	return errs
}
