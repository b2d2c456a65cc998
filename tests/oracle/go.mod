// The corpus oracle: runs TiDB (mock store) and TiCDC's own encoders and dispatchers and
// records their output as tests/corpus/oracle/*.json. See tests/corpus/README.md.
//
// Versions are those of TiCDC's v8.5 LTS line: github.com/pingcap/tiflow at tag v8.5.7
// (commit f90a1dd48658, 2026-06-30), and the TiDB, parser and kvproto versions that tag's
// go.mod pins. The replace directives are the ones in that go.mod.
//
// go.sum is missing: the Go module proxy refuses github.com/pingcap/tiflow and
// github.com/pingcap/tidb (403 "This module version is not available."), so `go mod tidy`
// has never run. Run `make -C tests/corpus corpus` once the proxy serves them.
module tidb-changefeed/oracle

go 1.25.10

require (
	github.com/pingcap/kvproto v0.0.0-20260608025309-50b863799195
	github.com/pingcap/tidb v1.1.0-beta.0.20260630134030-9a2b003a90fd
	github.com/pingcap/tidb/pkg/parser v0.0.0-20260630134030-9a2b003a90fd
	github.com/pingcap/tiflow v0.0.0-20260630180521-f90a1dd48658
	github.com/tikv/client-go/v2 v2.0.8-0.20260615130046-a2b634d170d9
)

replace github.com/IBM/sarama v1.41.2 => github.com/pingcap/sarama v1.41.2-pingcap-20260508

replace github.com/benbjohnson/clock v1.3.5 => github.com/benbjohnson/clock v1.1.0

replace go.opencensus.io => go.opencensus.io v0.23.1-0.20220331163232-052120675fac

replace github.com/apache/arrow-go/v18 => github.com/joechenrh/arrow-go/v18 v18.0.0-20250911101656-62c34c9a3b82

replace github.com/go-ldap/ldap/v3 v3.4.4 => github.com/yangkeao/ldap/v3 v3.4.5-0.20230421065457-369a3bab1117

replace github.com/tildeleb/hashland => leb.io/hashland v0.1.5

replace github.com/chaos-mesh/go-sqlsmith => github.com/PingCAP-QE/go-sqlsmith v0.0.0-20231213065948-336e064b488d

replace sourcegraph.com/sourcegraph/appdash => github.com/sourcegraph/appdash v0.0.0-20190731080439-ebfcffb1b5c0

replace sourcegraph.com/sourcegraph/appdash-data => github.com/sourcegraph/appdash-data v0.0.0-20151005221446-73f23eafcf67
