// Package oracle records what TiDB and TiCDC themselves produce for the SQL workloads in
// workloads/*.sql, as golden data for tidb-changefeed's decoders, emulator and encoders.
//
// It is a Go test only because TiDB's embedded server (mock store + testkit) and TiCDC's
// schema helper want a testing.TB. Run it through `make -C tests/corpus corpus`, which sets
// CORPUS_OUT and the build tag TiCDC's own tests use (intest).
//
// For every statement it records:
//   - the KV mutations of every touched record and index key (raw key, value, old value,
//     op, start ts, commit ts), read back from the store's MVCC history, i.e. what TiKV's
//     CDC EventFeed would report;
//   - for DDL: the job rows of mysql.tidb_ddl_job as they passed through the store, the job
//     JSON, and the TableInfo JSON after the job;
//   - each record mutation mounted by TiCDC's mounter (column values as TiCDC sees them);
//   - TiCDC's encoder output (canal-json with and without the TiDB extension, avro in each
//     decimal / unsigned-bigint mode, debezium, open-protocol) and the partition every
//     dispatcher (table, index-value, ts, default, columns) picks for 1, 3 and 8 partitions.
//
// STATUS: never compiled. The Go module proxy refuses github.com/pingcap/tiflow and
// github.com/pingcap/tidb, so go.sum could not be produced. API names were checked against
// tiflow v8.5.7 and TiDB sources; expect small fixes on first build.
package oracle

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pingcap/kvproto/pkg/kvrpcpb"
	tiddl "github.com/pingcap/tidb/pkg/ddl"
	"github.com/pingcap/tidb/pkg/kv"
	timodel "github.com/pingcap/tidb/pkg/meta/model"
	"github.com/pingcap/tidb/pkg/store/helper"
	"github.com/pingcap/tidb/pkg/tablecodec"
	"github.com/pingcap/tidb/pkg/util/codec"
	"github.com/pingcap/tiflow/cdc/entry"
	"github.com/pingcap/tiflow/cdc/model"
	"github.com/pingcap/tiflow/cdc/sink/dmlsink/mq/dispatcher/partition"
	"github.com/pingcap/tiflow/pkg/config"
	"github.com/pingcap/tiflow/pkg/filter"
	"github.com/pingcap/tiflow/pkg/sink"
	"github.com/pingcap/tiflow/pkg/sink/codec/avro"
	"github.com/pingcap/tiflow/pkg/sink/codec/builder"
	"github.com/pingcap/tiflow/pkg/sink/codec/common"
	"github.com/pingcap/tiflow/pkg/util"
	"github.com/tikv/client-go/v2/oracle"
)

// The DDL job table TiCDC subscribes to (TiDB's metadef.TiDBDDLJobTableID).
const ddlJobTableID = int64(0xFFFFFFFFFFFF - 1)

var partitionCounts = []int32{1, 3, 8}

const topic = "corpus"

type hexText struct {
	Hex  string `json:"hex"`
	Text string `json:"text,omitempty"` // set only when the bytes are valid UTF-8
}

func ht(b []byte) *hexText {
	if b == nil {
		return nil
	}
	h := &hexText{Hex: hex.EncodeToString(b)}
	if utf8.Valid(b) {
		h.Text = string(b)
	}
	return h
}

type mutation struct {
	KeyHex          string `json:"key_hex"`
	KeyKind         string `json:"key_kind"` // record | index
	PhysicalTableID int64  `json:"physical_table_id"`
	Op              string `json:"op"` // put | delete
	ValueHex        string `json:"value_hex"`
	OldValueHex     string `json:"old_value_hex,omitempty"`
	HasOldValue     bool   `json:"has_old_value"`
	StartTs         uint64 `json:"start_ts"`
	CommitTs        uint64 `json:"commit_ts"`
}

type message struct {
	Key       *hexText `json:"key"`
	Value     *hexText `json:"value"`
	Headers   []string `json:"headers"` // TiCDC writes none; kept for the schema
	Schema    string   `json:"avro_schema,omitempty"`
	KeySchema string   `json:"avro_key_schema,omitempty"`
	Note      string   `json:"note,omitempty"`
}

type value struct {
	Kind  string `json:"kind"` // int, uint, float32, float64, string, bytes, null
	Value string `json:"value,omitempty"`
	Hex   string `json:"hex,omitempty"`
}

type column struct {
	Name  string `json:"name"`
	Type  byte   `json:"tp"`
	Flag  uint64 `json:"flag"`
	Value value  `json:"value"`
}

type row struct {
	Mutations  []int                       `json:"mutations"` // indexes into the step's mutations
	Type       string                      `json:"type"`      // INSERT | UPDATE | DELETE (after TiCDC's split)
	CommitTs   uint64                      `json:"commit_ts"`
	Physical   int64                       `json:"physical_table_id"`
	Columns    []column                    `json:"columns,omitempty"`
	PreColumns []column                    `json:"pre_columns,omitempty"`
	Messages   map[string][]message        `json:"messages"`
	Partitions map[string]map[string]int32 `json:"partitions"`
	Errors     map[string]string           `json:"errors,omitempty"`
}

type ddlJob struct {
	JobID int64           `json:"job_id"`
	Job   json.RawMessage `json:"job"`
	KV    []mutation      `json:"kv"` // the job's row in mysql.tidb_ddl_job, every version
}

type ddlEvent struct {
	Type     string               `json:"type"`
	Query    string               `json:"query"`
	CommitTs uint64               `json:"commit_ts"`
	Messages map[string][]message `json:"messages"`
}

type step struct {
	Seq       int             `json:"seq"`
	SQL       string          `json:"sql"`
	Error     string          `json:"error,omitempty"`
	TsBefore  uint64          `json:"ts_before"`
	TsAfter   uint64          `json:"ts_after"`
	DDLJobs   []ddlJob        `json:"ddl_jobs,omitempty"`
	TableInfo json.RawMessage `json:"table_info,omitempty"`
	DDLEvents []ddlEvent      `json:"ddl_events,omitempty"`
	Mutations []mutation      `json:"mutations,omitempty"`
	Rows      []row           `json:"rows,omitempty"`
}

type tableFile struct {
	CorpusFormat int               `json:"corpus_format"`
	Origin       string            `json:"origin"`
	Kind         string            `json:"kind"`
	Versions     map[string]string `json:"versions"`
	Workload     string            `json:"workload"`
	Schema       string            `json:"schema"`
	Table        string            `json:"table"`
	Steps        []*step           `json:"cases"`
}

// encoding is one protocol configuration whose output the oracle records.
type encoding struct {
	name string
	cfg  func() *common.Config
}

func encodings() []encoding {
	mk := func(p config.Protocol, f func(c *common.Config)) func() *common.Config {
		return func() *common.Config {
			c := common.NewConfig(p)
			c.TimeZone = time.UTC
			c.MaxBatchSize = 1
			if f != nil {
				f(c)
			}
			return c
		}
	}
	es := []encoding{
		{"canal-json", mk(config.ProtocolCanalJSON, nil)},
		{"canal-json+tidb-extension", mk(config.ProtocolCanalJSON, func(c *common.Config) { c.EnableTiDBExtension = true })},
		{"debezium", mk(config.ProtocolDebezium, nil)},
		{"open-protocol", mk(config.ProtocolOpen, nil)},
	}
	for _, dec := range []string{"precise", "string"} {
		for _, ubig := range []string{"long", "string"} {
			dec, ubig := dec, ubig
			es = append(es, encoding{
				fmt.Sprintf("avro+decimal-%s+bigint-unsigned-%s", dec, ubig),
				mk(config.ProtocolAvro, func(c *common.Config) {
					c.AvroDecimalHandlingMode = dec
					c.AvroBigintUnsignedHandlingMode = ubig
					c.EnableTiDBExtension = true
				}),
			})
		}
	}
	return es
}

func TestOracle(t *testing.T) {
	out := os.Getenv("CORPUS_OUT")
	if out == "" {
		t.Fatal("CORPUS_OUT not set: this test writes the corpus; run `make -C tests/corpus corpus`")
	}
	files, err := filepath.Glob("workloads/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no workloads: %v", err)
	}
	sort.Strings(files)
	for _, f := range files {
		runWorkload(t, f, out)
	}
}

type recorder struct {
	t        *testing.T
	h        *entry.SchemaTestHelper
	store    kv.Storage
	mvcc     *helper.Helper
	schema   entry.SchemaStorage
	mounter  entry.Mounter
	workload string
	// logical table id → file; physical ids (partitions, truncated tables) map to it too.
	files    map[int64]*tableFile
	physical map[int64]int64
	lastJob  int64
	versions map[string]string
	misc     *tableFile // steps that belong to no table
}

func runWorkload(t *testing.T, path, out string) {
	h := entry.NewSchemaTestHelper(t)
	defer h.Close()
	store := h.Storage()
	hs, ok := store.(helper.Storage)
	if !ok {
		t.Fatalf("mock store %T does not implement helper.Storage (needed for MVCC reads)", store)
	}
	ver, err := store.CurrentVersion(oracle.GlobalTxnScope)
	if err != nil {
		t.Fatal(err)
	}
	rc := config.GetDefaultReplicaConfig()
	rc.ForceReplicate = true
	f, err := filter.NewFilter(rc, "")
	if err != nil {
		t.Fatal(err)
	}
	cf := model.DefaultChangeFeedID("corpus-oracle")
	ss, err := entry.NewSchemaStorage(store, ver.Ver, true, cf, util.RoleTester, f)
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{
		t: t, h: h, store: store, mvcc: helper.NewHelper(hs), schema: ss,
		mounter:  entry.NewMounter(ss, cf, time.UTC, f, rc.Integrity),
		workload: filepath.Base(path),
		files:    map[int64]*tableFile{}, physical: map[int64]int64{},
		versions: map[string]string{
			"tiflow": "v0.0.0-20260630180521-f90a1dd48658 (tag v8.5.7)",
			"tidb":   "v1.1.0-beta.0.20260630134030-9a2b003a90fd",
			"go":     runtime.Version(),
		},
	}
	r.misc = &tableFile{CorpusFormat: 1, Origin: "oracle", Kind: "oracle-table", Versions: r.versions,
		Workload: r.workload, Schema: strings.TrimSuffix(r.workload, ".sql"), Table: "_schema"}
	r.files[-1] = r.misc
	r.lastJob = r.maxJobID()
	for i, stmt := range readStatements(t, path) {
		r.run(i, stmt)
	}
	r.write(out)
}

// readStatements splits a workload into statements: `;` at the end of a line ends one;
// lines starting with `--` are comments.
func readStatements(t *testing.T, path string) []string {
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var stmts []string
	var cur strings.Builder
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			s := strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")
			if s != "" {
				stmts = append(stmts, s)
			}
			cur.Reset()
		}
	}
	return stmts
}

func (r *recorder) now() uint64 {
	v, err := r.store.CurrentVersion(oracle.GlobalTxnScope)
	if err != nil {
		r.t.Fatal(err)
	}
	return v.Ver
}

func (r *recorder) maxJobID() int64 {
	jobs, err := tiddl.GetLastNHistoryDDLJobs(r.h.GetCurrentMeta(), 1)
	if err != nil || len(jobs) == 0 {
		return 0
	}
	return jobs[0].ID
}

func (r *recorder) run(seq int, sql string) {
	st := &step{Seq: seq, SQL: sql, TsBefore: r.now()}
	keysBefore := r.scanAll(st.TsBefore)
	if _, err := r.h.Tk().Exec(sql); err != nil {
		st.Error = err.Error()
	}
	st.TsAfter = r.now()

	// DDL: new history jobs since the last statement, oldest first.
	jobs, err := tiddl.GetLastNHistoryDDLJobs(r.h.GetCurrentMeta(), 64)
	if err != nil {
		r.t.Fatal(err)
	}
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].ID < jobs[j].ID })
	var touched = map[int64]bool{}
	for _, job := range jobs {
		if job.ID <= r.lastJob {
			continue
		}
		r.lastJob = job.ID
		raw, err := json.Marshal(job)
		if err != nil {
			r.t.Fatal(err)
		}
		st.DDLJobs = append(st.DDLJobs, ddlJob{JobID: job.ID, Job: raw,
			KV: r.mvccMutations(tablecodec.EncodeRowKeyWithHandle(ddlJobTableID, kv.IntHandle(job.ID)),
				ddlJobTableID, "record", 0, ^uint64(0))})
		job.State = timodel.JobStateDone
		if err := r.schema.HandleDDLJob(job); err != nil {
			r.t.Fatalf("HandleDDLJob %q: %v", job.Query, err)
		}
		r.schema.AdvanceResolvedTs(st.TsAfter)
		events, err := r.schema.BuildDDLEvents(context.Background(), job)
		if err != nil {
			r.t.Fatalf("BuildDDLEvents %q: %v", job.Query, err)
		}
		for _, ev := range events {
			st.DDLEvents = append(st.DDLEvents, ddlEvent{Type: ev.Type.String(), Query: ev.Query,
				CommitTs: ev.CommitTs, Messages: encodeDDL(ev)})
		}
		for _, ti := range tableInfos(job) {
			r.track(ti, job.SchemaID, job.TableID)
			touched[ti.ID] = true
			st.TableInfo, _ = json.Marshal(ti)
		}
		if job.TableID != 0 {
			touched[r.logical(job.TableID)] = true
		}
	}
	r.schema.AdvanceResolvedTs(st.TsAfter)

	// DML: every key of every known table that has a version committed in (before, after].
	keys := r.scanAll(st.TsAfter)
	for k, id := range keysBefore {
		keys[k] = id
	}
	var ks []string
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		kind := "record"
		if tablecodec.IsIndexKey([]byte(k)) {
			kind = "index"
		}
		st.Mutations = append(st.Mutations, r.mvccMutations([]byte(k), keys[k], kind, st.TsBefore, st.TsAfter)...)
	}
	st.Rows = r.mount(st.Mutations)

	// File the step under every table it touched.
	for _, m := range st.Mutations {
		touched[r.logical(m.PhysicalTableID)] = true
	}
	filed := false
	for id := range touched {
		if f := r.files[r.logical(id)]; f != nil {
			f.Steps = append(f.Steps, r.only(st, id))
			filed = true
		}
	}
	if !filed && (len(st.DDLJobs) > 0 || st.Error != "") {
		// schema-level DDL (databases, views) and failed statements
		r.misc.Steps = append(r.misc.Steps, st)
	}
}

func tableInfos(job *timodel.Job) []*timodel.TableInfo {
	if job.BinlogInfo == nil {
		return nil
	}
	if len(job.BinlogInfo.MultipleTableInfos) > 0 {
		return job.BinlogInfo.MultipleTableInfos
	}
	if job.BinlogInfo.TableInfo != nil {
		return []*timodel.TableInfo{job.BinlogInfo.TableInfo}
	}
	return nil
}

// track registers a table (and its partitions) so its key ranges are scanned. A table id
// seen for the first time in a job on another table (truncate) keeps that table's file.
func (r *recorder) track(ti *timodel.TableInfo, schemaID, jobTableID int64) {
	if old, ok := r.files[r.logical(jobTableID)]; ok && jobTableID != ti.ID {
		if _, seen := r.files[ti.ID]; !seen {
			r.files[ti.ID] = old
		}
	}
	if _, ok := r.files[ti.ID]; !ok {
		schema := ""
		if db, ok := r.schema.GetLastSnapshot().SchemaByID(schemaID); ok {
			schema = db.Name.O
		}
		r.files[ti.ID] = &tableFile{CorpusFormat: 1, Origin: "oracle", Kind: "oracle-table",
			Versions: r.versions, Workload: r.workload, Schema: schema, Table: ti.Name.O}
	}
	r.physical[ti.ID] = ti.ID
	if pi := ti.GetPartitionInfo(); pi != nil {
		for _, d := range pi.Definitions {
			r.physical[d.ID] = ti.ID
		}
		for _, d := range pi.AddingDefinitions {
			r.physical[d.ID] = ti.ID
		}
	}
}

func (r *recorder) logical(physical int64) int64 {
	if l, ok := r.physical[physical]; ok {
		return l
	}
	return physical
}

// scanAll returns every key (record and index) of every tracked physical table at ts.
func (r *recorder) scanAll(ts uint64) map[string]int64 {
	keys := map[string]int64{}
	snap := r.store.GetSnapshot(kv.NewVersion(ts))
	for id := range r.physical {
		start := tablecodec.EncodeTablePrefix(id)
		end := tablecodec.EncodeTablePrefix(id + 1)
		it, err := snap.Iter(start, end)
		if err != nil {
			r.t.Fatal(err)
		}
		for it.Valid() {
			keys[string(it.Key())] = id
			if err := it.Next(); err != nil {
				r.t.Fatal(err)
			}
		}
		it.Close()
	}
	return keys
}

// mvccMutations reads every version of a raw key and returns the puts and deletes committed
// in (after, upTo], each with the value of the version before it as old value, as TiKV's CDC
// observer reports them.
func (r *recorder) mvccMutations(raw []byte, physical int64, kind string, after, upTo uint64) []mutation {
	resp, err := r.mvcc.GetMvccByEncodedKeyWithTS(codec.EncodeBytes(nil, raw), 0)
	if err != nil {
		r.t.Fatalf("MVCC read of %x: %v", raw, err)
	}
	info := resp.GetInfo()
	if info == nil {
		return nil
	}
	values := map[uint64][]byte{}
	for _, v := range info.GetValues() {
		values[v.GetStartTs()] = v.GetValue()
	}
	writes := append([]*kvrpcpb.MvccWrite(nil), info.GetWrites()...)
	sort.Slice(writes, func(i, j int) bool { return writes[i].GetCommitTs() < writes[j].GetCommitTs() })
	var out []mutation
	var prev []byte
	prevPut := false
	for _, w := range writes {
		var val []byte
		switch w.GetType() {
		case kvrpcpb.Op_Put:
			val = w.GetShortValue()
			if len(val) == 0 {
				val = values[w.GetStartTs()]
			}
		case kvrpcpb.Op_Del:
		default:
			continue // lock and rollback records change nothing
		}
		if w.GetCommitTs() > after && w.GetCommitTs() <= upTo {
			m := mutation{KeyHex: hex.EncodeToString(raw), KeyKind: kind, PhysicalTableID: physical,
				StartTs: w.GetStartTs(), CommitTs: w.GetCommitTs(), ValueHex: hex.EncodeToString(val)}
			if w.GetType() == kvrpcpb.Op_Put {
				m.Op = "put"
			} else {
				m.Op = "delete"
			}
			if prevPut {
				m.HasOldValue = true
				m.OldValueHex = hex.EncodeToString(prev)
			}
			out = append(out, m)
		}
		prev, prevPut = val, w.GetType() == kvrpcpb.Op_Put
	}
	return out
}

// mount turns record mutations into TiCDC row events, applies TiCDC's Kafka-sink split of
// key-changing updates per (table, commit ts), and records every encoding and dispatch.
func (r *recorder) mount(muts []mutation) []row {
	type group struct {
		txn  *model.SingleTableTxn
		idxs [][]int
	}
	groups := map[string]*group{}
	var order []string
	for i, m := range muts {
		if m.KeyKind != "record" {
			continue
		}
		key, _ := hex.DecodeString(m.KeyHex)
		val, _ := hex.DecodeString(m.ValueHex)
		raw := &model.RawKVEntry{Key: key, StartTs: m.StartTs, CRTs: m.CommitTs}
		if m.Op == "put" {
			raw.OpType = model.OpTypePut
			raw.Value = val
		} else {
			raw.OpType = model.OpTypeDelete
		}
		if m.HasOldValue {
			raw.OldValue, _ = hex.DecodeString(m.OldValueHex)
		}
		ev := model.NewPolymorphicEvent(raw)
		if err := r.mounter.DecodeEvent(context.Background(), ev); err != nil {
			r.t.Fatalf("mount %s: %v", m.KeyHex, err)
		}
		if ev.Row == nil {
			continue
		}
		gk := fmt.Sprintf("%d/%d", m.PhysicalTableID, m.CommitTs)
		g := groups[gk]
		if g == nil {
			g = &group{txn: &model.SingleTableTxn{PhysicalTableID: m.PhysicalTableID, TableInfo: ev.Row.TableInfo,
				StartTs: m.StartTs, CommitTs: m.CommitTs}}
			groups[gk] = g
			order = append(order, gk)
		}
		g.txn.Rows = append(g.txn.Rows, ev.Row)
		g.idxs = append(g.idxs, []int{i})
	}
	var rows []row
	for _, gk := range order {
		g := groups[gk]
		before := len(g.txn.Rows)
		if err := g.txn.TrySplitAndSortUpdateEvent(sink.KafkaScheme, false); err != nil {
			r.t.Fatal(err)
		}
		for i, ev := range g.txn.Rows {
			rw := row{Type: rowType(ev), CommitTs: ev.CommitTs, Physical: ev.PhysicalTableID,
				Columns: columns(ev.GetColumns()), PreColumns: columns(ev.GetPreColumns()),
				Messages: map[string][]message{}, Partitions: map[string]map[string]int32{}, Errors: map[string]string{}}
			if len(g.txn.Rows) == before {
				rw.Mutations = g.idxs[i]
			} // after a split the row↔mutation link is by key and commit ts only
			for _, e := range encodings() {
				msgs, err := encodeRow(e, ev)
				if err != nil {
					rw.Errors[e.name] = err.Error()
					continue
				}
				rw.Messages[e.name] = msgs
			}
			dispatch(ev, &rw)
			rows = append(rows, rw)
		}
	}
	return rows
}

func rowType(ev *model.RowChangedEvent) string {
	switch {
	case ev.IsInsert():
		return "INSERT"
	case ev.IsDelete():
		return "DELETE"
	default:
		return "UPDATE"
	}
}

func columns(cols []*model.Column) []column {
	var out []column
	for _, c := range cols {
		if c == nil {
			continue
		}
		out = append(out, column{Name: c.Name, Type: c.Type, Flag: uint64(c.Flag), Value: typed(c.Value)})
	}
	return out
}

func typed(v interface{}) value {
	switch x := v.(type) {
	case nil:
		return value{Kind: "null"}
	case int64:
		return value{Kind: "int", Value: fmt.Sprint(x)}
	case uint64:
		return value{Kind: "uint", Value: fmt.Sprint(x)}
	case float32:
		return value{Kind: "float32", Value: fmt.Sprint(x)}
	case float64:
		return value{Kind: "float64", Value: fmt.Sprint(x)}
	case string:
		return value{Kind: "string", Value: x, Hex: hex.EncodeToString([]byte(x))}
	case []byte:
		return value{Kind: "bytes", Hex: hex.EncodeToString(x)}
	default:
		return value{Kind: fmt.Sprintf("%T", v), Value: fmt.Sprint(v)}
	}
}

func encodeRow(e encoding, ev *model.RowChangedEvent) ([]message, error) {
	ctx := context.Background()
	cfg := e.cfg()
	var enc interface {
		AppendRowChangedEvent(context.Context, string, *model.RowChangedEvent, func()) error
		Build() []*common.Message
	}
	if cfg.Protocol == config.ProtocolAvro {
		a, err := avro.SetupEncoderAndSchemaRegistry4Testing(ctx, cfg)
		if err != nil {
			return nil, err
		}
		defer avro.TeardownEncoderAndSchemaRegistry4Testing()
		enc = a
	} else {
		b, err := builder.NewRowEventEncoderBuilder(ctx, cfg)
		if err != nil {
			return nil, err
		}
		enc = b.Build()
	}
	if err := enc.AppendRowChangedEvent(ctx, topic, ev, nil); err != nil {
		return nil, err
	}
	var out []message
	for _, m := range enc.Build() {
		msg := message{Key: ht(m.Key), Value: ht(m.Value), Headers: []string{}}
		if cfg.Protocol == config.ProtocolAvro {
			msg.KeySchema = registrySchema(m.Key)
			msg.Schema = registrySchema(m.Value)
		}
		if cfg.Protocol == config.ProtocolCanalJSON {
			msg.Note = "value.ts is the encoder's wall clock; mysqlType key order is random (Go map)"
		}
		out = append(out, msg)
	}
	return out, nil
}

// registrySchema fetches the schema a Confluent-framed Avro message refers to from TiCDC's
// test registry (an HTTP intercept on http.DefaultTransport while the encoder lives).
func registrySchema(b []byte) string {
	if len(b) < 5 || b[0] != 0 {
		return ""
	}
	id := binary.BigEndian.Uint32(b[1:5])
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:8081/schemas/ids/%d", id))
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var s struct {
		Schema string `json:"schema"`
	}
	if json.Unmarshal(body, &s) != nil {
		return string(body)
	}
	return s.Schema
}

func encodeDDL(ev *model.DDLEvent) map[string][]message {
	out := map[string][]message{}
	for _, e := range encodings() {
		cfg := e.cfg()
		if cfg.Protocol == config.ProtocolAvro {
			out[e.name] = nil // TiCDC's Avro encoder emits nothing for DDL
			continue
		}
		b, err := builder.NewRowEventEncoderBuilder(context.Background(), cfg)
		if err != nil {
			continue
		}
		m, err := b.Build().EncodeDDLEvent(ev)
		if err != nil || m == nil {
			out[e.name] = nil
			continue
		}
		out[e.name] = []message{{Key: ht(m.Key), Value: ht(m.Value), Headers: []string{}}}
	}
	return out
}

func dispatch(ev *model.RowChangedEvent, rw *row) {
	ds := map[string]partition.Dispatcher{
		"table":       partition.NewTableDispatcher(),
		"default":     partition.NewDefaultDispatcher(),
		"ts":          partition.NewTsDispatcher(),
		"index-value": partition.NewIndexValueDispatcher(""),
	}
	if cols := ev.TableInfo.Columns; len(cols) > 0 {
		names := []string{cols[0].Name.O}
		if len(cols) > 1 {
			names = append(names, cols[len(cols)-1].Name.O)
		}
		ds["columns:"+strings.Join(names, ",")] = partition.NewColumnsDispatcher(names)
	}
	for name, d := range ds {
		per := map[string]int32{}
		for _, n := range partitionCounts {
			p, _, err := d.DispatchRowChangedEvent(ev, n)
			if err != nil {
				rw.Errors["dispatch/"+name] = err.Error()
				break
			}
			per[fmt.Sprint(n)] = p
		}
		rw.Partitions[name] = per
	}
}

// only returns a copy of st restricted to one logical table's mutations and rows.
func (r *recorder) only(st *step, logical int64) *step {
	c := *st
	c.Mutations, c.Rows = nil, nil
	remap := map[int]int{}
	for i, m := range st.Mutations {
		if r.logical(m.PhysicalTableID) == logical {
			remap[i] = len(c.Mutations)
			c.Mutations = append(c.Mutations, m)
		}
	}
	for _, rw := range st.Rows {
		if r.logical(rw.Physical) != logical {
			continue
		}
		nr := rw
		nr.Mutations = nil
		for _, i := range rw.Mutations {
			nr.Mutations = append(nr.Mutations, remap[i])
		}
		c.Rows = append(c.Rows, nr)
	}
	return &c
}

func (r *recorder) write(out string) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		r.t.Fatal(err)
	}
	seen := map[*tableFile]bool{}
	for _, f := range r.files {
		if seen[f] || len(f.Steps) == 0 {
			continue
		}
		seen[f] = true
		name := fmt.Sprintf("%s.%s.json", f.Schema, f.Table)
		b, err := json.MarshalIndent(f, "", " ")
		if err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, name), append(b, '\n'), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}
