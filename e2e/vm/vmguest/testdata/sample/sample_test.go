// Package sample is a test binary for vmguest's test: what it does is
// chosen by SAMPLE (pass, fail, panic).
package sample

import (
	"os"
	"testing"
)

func TestPass(t *testing.T) {
	t.Run("sub", func(t *testing.T) { t.Log("proved: a subtest ran") })
}

func TestSkip(t *testing.T) { t.Skip("not here") }

func TestMaybeFail(t *testing.T) {
	switch os.Getenv("SAMPLE") {
	case "fail":
		t.Fatal("failing on purpose")
	case "panic":
		os.Exit(3) // as a crash would: no --- FAIL line
	}
}
