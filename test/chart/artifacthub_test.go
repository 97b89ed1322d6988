package chart

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"sigs.k8s.io/yaml"
)

// chartMeta is the part of Chart.yaml these tests read.
type chartMeta struct {
	Sources     []string          `json:"sources"`
	AppVersion  string            `json:"appVersion"`
	Annotations map[string]string `json:"annotations"`
}

func readChartMeta(t *testing.T) chartMeta {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m chartMeta
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("Chart.yaml: %v", err)
	}
	return m
}

// TestArtifactHubImages: the image Artifact Hub lists (and scans) is the one
// the chart deploys by default, on the platforms the release publishes.
func TestArtifactHubImages(t *testing.T) {
	var images []struct {
		Name      string   `json:"name"`
		Image     string   `json:"image"`
		Platforms []string `json:"platforms"`
	}
	if err := yaml.UnmarshalStrict([]byte(readChartMeta(t).Annotations["artifacthub.io/images"]), &images); err != nil {
		t.Fatalf("annotation artifacthub.io/images: %v", err)
	}
	_, c := deployment(t, render(t, ""), fullname)
	if len(images) != 1 || images[0].Image != c.Image {
		t.Fatalf("artifacthub.io/images lists %+v, the chart deploys %s", images, c.Image)
	}
	if !slices.Equal(images[0].Platforms, imagePlatforms) {
		t.Errorf("artifacthub.io/images platforms %v, the release publishes %v", images[0].Platforms, imagePlatforms)
	}
}
