package analytics

// RawStore is s reading only events and sessions, never the rollups.
func RawStore(s *Store) *Store { return &Store{pool: s.pool, raw: true} }

// NoBundleStore is s answering filtered queries with one SQL function per
// answer instead of the shared op.overview_filtered_v1.
func NoBundleStore(s *Store) *Store { return &Store{pool: s.pool, raw: s.raw, noBundle: true} }

// AllDimsBundleStore is s whose bundles compute every dimension (the
// overview's bundles compute its widgets' first tabs only).
func AllDimsBundleStore(s *Store) *Store {
	all := []string{}
	for _, d := range Dims {
		all = append(all, d.Key)
	}
	return &Store{pool: s.pool, raw: s.raw, dims: all}
}
