// Package enrich turns the raw facts of an ingestion request (User-Agent,
// client address, page URL, referrer URL) into the derived event fields that
// tally stores: device/browser/OS and bot classification, country/region/city,
// referrer name and type, and the normalised page origin, path and UTM
// parameters.
//
// Everything here sits on the ingestion hot path, so the package is built to
// be cheap per event and safe for concurrent use: parsers are constructed once
// and shared, expensive results (User-Agent parsing and crawler detection) are
// cached in bounded memory, and the pure functions avoid allocation where it
// matters. None of it does network I/O at lookup time; the only network
// activity is the explicit, operator-triggered [Install] of the geolocation
// databases.
//
// The package owns the classification vocabularies it returns (device kinds,
// bot types, referrer types); they are documented on the respective types and
// exported as constants so that storage and UI code can rely on them.
package enrich
