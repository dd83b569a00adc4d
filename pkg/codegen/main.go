// Command codegen regenerates the zz_generated_deepcopy.go files of the API
// packages under pkg/apis, and pkg/generated: the typed clientset (with its
// applyconfigurations) and wrangler controllers of harvnet's own group.
// The NAD type (k8s.cni.cncf.io) gets deepcopy only: harvnet reads NADs
// through one generic controller (pkg/agent) and writes none.
//
// Run it from anywhere inside the module: go run ./pkg/codegen
// (scripts/generate.sh does that, and also regenerates crds/).
//
// It deliberately does not import the API packages: they do not compile
// before their deepcopy exists (register.go needs DeepCopyObject), so the
// types are named with args.Type instead of by reflection.
package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	controllergen "github.com/rancher/wrangler/v3/pkg/controller-gen"
	"github.com/rancher/wrangler/v3/pkg/controller-gen/args"
	"github.com/sirupsen/logrus"
	dpargs "k8s.io/code-generator/cmd/deepcopy-gen/args"
	dp "k8s.io/code-generator/cmd/deepcopy-gen/generators"
	"k8s.io/gengo/v2"
	"k8s.io/gengo/v2/generator"
)

const (
	module        = "github.com/harvnet/harvnet"
	outputPackage = module + "/pkg/generated"
	boilerplate   = "pkg/codegen/boilerplate.go.txt"

	networkGroup = "network.harvesterhci.io"
	networkPkg   = module + "/pkg/apis/network.harvesterhci.io/v1alpha1"

	cniPkg = module + "/pkg/apis/k8s.cni.cncf.io/v1"
)

func main() {
	chdirModuleRoot()

	// The wrangler generator works in "go modules" mode (generate into a temp
	// dir, then copy into ./) only when GOPATH is unset; with GOPATH set it
	// would write into $GOPATH/src instead. Pin the module cache first so that
	// unsetting GOPATH does not move it.
	if os.Getenv("GOMODCACHE") == "" {
		if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
			os.Setenv("GOMODCACHE", strings.TrimSpace(string(out)))
		}
	}
	os.Unsetenv("GOPATH")

	// Deepcopy first: the clientset and controllers are generated
	// from packages that only type-check once it exists.
	if err := generateDeepcopy(networkPkg, cniPkg); err != nil {
		logrus.Fatalf("deepcopy: %v", err)
	}

	// GenerateTypes stays false: in wrangler it also writes doc.go,
	// zz_generated_register.go and zz_generated_list_types.go into the API
	// packages, which would clash with the hand-written register.go and *List
	// types there. generateDeepcopy above does the part of it we need.
	controllergen.Run(args.Options{
		OutputPackage: outputPackage,
		Boilerplate:   boilerplate,
		Groups: map[string]args.Group{
			networkGroup: {
				Types: []interface{}{
					args.Type{Version: "v1alpha1", Package: networkPkg, Name: "Node"},
					args.Type{Version: "v1alpha1", Package: networkPkg, Name: "ClusterNetwork"},
				},
				// Listers and informers stay off: the binaries use the
				// wrangler controllers and caches, the tests the clientset.
				GenerateClients: true,
			},
		},
	})
}

// chdirModuleRoot makes the relative paths here (and wrangler's copy into ./)
// relative to the module root, wherever the command was started.
func chdirModuleRoot() {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		logrus.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		logrus.Fatalf("run codegen inside the %s module", module)
	}
	if err := os.Chdir(filepath.Dir(gomod)); err != nil {
		logrus.Fatal(err)
	}
}

// generateDeepcopy writes zz_generated_deepcopy.go next to the API types.
func generateDeepcopy(pkgs ...string) error {
	a := dpargs.New()
	a.OutputFile = "zz_generated_deepcopy.go"
	a.GoHeaderFile = boilerplate
	return gengo.Execute(
		dp.NameSystems(),
		dp.DefaultNameSystem(),
		func(c *generator.Context) []generator.Target { return dp.GetTargets(c, a) },
		gengo.StdBuildTag,
		pkgs,
	)
}
