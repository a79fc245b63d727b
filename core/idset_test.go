package core

import (
	"strconv"
	"testing"
)

func TestIDSet_FindsDuplicatesAcrossGrowth(t *testing.T) {
	const n = 1000
	tokens := make([]Token, n+2)
	for i := range n {
		tokens[i].ID = "tok_" + strconv.Itoa(i)
	}
	tokens[n].ID = "tok_3"     // a duplicate of an id added before the table grew
	tokens[n+1].ID = "tok_999" // a duplicate of the last id added
	s := newIDSet(0)
	for i := range n {
		if !s.add(tokens, i) {
			t.Fatalf("id %q at %d reported as a duplicate", tokens[i].ID, i)
		}
	}
	if s.count != n {
		t.Errorf("count = %d, want %d", s.count, n)
	}
	if len(s.slots) < 2*n {
		t.Errorf("table has %d slots for %d ids, want at least twice as many", len(s.slots), n)
	}
	for _, i := range []int{n, n + 1} {
		if s.add(tokens, i) {
			t.Errorf("duplicate id %q at %d was added", tokens[i].ID, i)
		}
	}
}

func TestIDSet_EmptyIDsCollide(t *testing.T) {
	tokens := []Token{{ID: ""}, {ID: ""}}
	s := newIDSet(2)
	if !s.add(tokens, 0) {
		t.Fatal("first empty id reported as a duplicate")
	}
	if s.add(tokens, 1) {
		t.Error("second empty id was added")
	}
}
