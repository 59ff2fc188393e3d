package pgsvc.pooler;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.function.Supplier;

import io.netty.channel.EventLoop;
import org.HdrHistogram.Histogram;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.DatabaseEntry;

/**
 * PgBouncer's statistics ({@code src/stats.c}): every pool's {@link PoolStats}, the stats_period clock, and the
 * console's SHOW STATS, STATS_TOTALS, STATS_AVERAGES and TOTALS, plus pgsvc's SHOW LATENCY.
 *
 * <p>Totals are counted since start. Averages are PgBouncer's: at each stats_period the totals are kept, and an
 * average compares the live totals with those kept one tick earlier, over the time since then (rates per second for
 * counts and bytes, a mean per query, transaction or assignment for times). Every stats_period, with log_stats,
 * PgBouncer's {@code stats:} line sums all pools over the last period.
 *
 * <p>Latency histograms are drained from each event loop on that loop and merged on this object's home loop (the
 * first), where SHOW LATENCY reads them; the clock ticks on the home loop too.
 */
final class Stats {
    private static final Logger log = LoggerFactory.getLogger(Stats.class);
    static final int TEXT = 25;
    static final int INT8 = 20;
    static final int NUMERIC = 1700;
    private static final long USEC = 1_000_000;

    private record Key(String database, String user) {
    }

    /** The totals kept at the last two ticks (PgBouncer's older_stats and newer_stats) and when they were kept. */
    private record Period(long olderAt, Map<Key, long[]> older, long newerAt, Map<Key, long[]> newer) {
    }

    private final Map<Key, PoolStats> pools = new ConcurrentHashMap<>();
    private final EventLoop[] loops;
    private final EventLoop home;
    private final Supplier<Config> config;
    private volatile Period period;

    Stats(EventLoop[] loops, Supplier<Config> config) {
        this.loops = loops;
        this.home = loops[0];
        this.config = config;
        long now = System.nanoTime();
        // As PgBouncer's stats_setup: the first averages are over the time since a second before start.
        this.period = new Period(now - TimeUnit.SECONDS.toNanos(1), Map.of(), now, Map.of());
    }

    /** The statistics of a (database, user) pair; the same object for every pool that pair ever has. */
    PoolStats of(String database, String user) {
        return pools.computeIfAbsent(new Key(database, user), k -> new PoolStats(database, user, loops.length));
    }

    /** Drops a pair's statistics (an automatic database's pool went away after autodb_idle_timeout). */
    void forget(String database, String user) {
        pools.remove(new Key(database, user));
    }

    /** Starts the stats_period clock; the period is read at every tick, so a RELOAD applies from the next one. */
    void start() {
        home.schedule(this::tick, periodSeconds(), TimeUnit.SECONDS);
    }

    private long periodSeconds() {
        return Math.max(1, config.get().getInt("stats_period"));
    }

    private void tick() {
        try {
            long now = System.nanoTime();
            Map<Key, long[]> totals = new HashMap<>();
            for (Map.Entry<Key, PoolStats> e : pools.entrySet()) {
                totals.put(e.getKey(), e.getValue().totals());
            }
            Period previous = period;
            Period next = new Period(previous.newerAt(), previous.newer(), now, totals);
            period = next;
            if (config.get().getBool("log_stats")) {
                long[] cur = new long[PoolStats.COUNTERS];
                long[] old = new long[PoolStats.COUNTERS];
                for (Map.Entry<Key, long[]> e : totals.entrySet()) {
                    addTo(cur, e.getValue());
                    addTo(old, next.older().get(e.getKey()));
                }
                long[] avg = averages(cur, old, now - next.olderAt());
                log.info("stats: {} xacts/s, {} queries/s, {} client parses/s, {} server parses/s, {} binds/s,"
                        + " in {} B/s, out {} B/s, xact {} us, query {} us, wait {} us",
                        avg[PoolStats.XACTS], avg[PoolStats.QUERIES], avg[PoolStats.CLIENT_PARSES],
                        avg[PoolStats.SERVER_PARSES], avg[PoolStats.BINDS], avg[PoolStats.RECEIVED],
                        avg[PoolStats.SENT], avg[PoolStats.XACT_TIME], avg[PoolStats.QUERY_TIME],
                        avg[PoolStats.WAIT_TIME]);
            }
            drainLatency(() -> pools.values().forEach(PoolStats::endPeriod));
        } catch (RejectedExecutionException e) {
            // The event loops are shutting down: nothing left to count.
        } catch (RuntimeException e) {
            log.error("stats_period tick failed", e);
        } finally {
            if (!home.isShuttingDown()) {
                home.schedule(this::tick, periodSeconds(), TimeUnit.SECONDS);
            }
        }
    }

    private static void addTo(long[] sum, long[] values) {
        if (values != null) {
            for (int i = 0; i < sum.length; i++) {
                sum[i] += values[i];
            }
        }
    }

    /**
     * PgBouncer's calc_average: counts and bytes per second over {@code nanos}, times per query, transaction and
     * server assignment, all in whole units as PgBouncer's integer arithmetic gives them.
     */
    static long[] averages(long[] cur, long[] old, long nanos) {
        long[] avg = new long[PoolStats.COUNTERS];
        long micros = nanos / 1000;
        if (micros <= 0) {
            return avg;
        }
        for (int i : new int[] {PoolStats.ASSIGNMENTS, PoolStats.XACTS, PoolStats.QUERIES, PoolStats.RECEIVED,
            PoolStats.SENT, PoolStats.CLIENT_PARSES, PoolStats.SERVER_PARSES, PoolStats.BINDS}) {
            avg[i] = perSecond(cur[i] - old[i], micros);
        }
        avg[PoolStats.XACT_TIME] = mean(cur, old, PoolStats.XACT_TIME, PoolStats.XACTS);
        avg[PoolStats.QUERY_TIME] = mean(cur, old, PoolStats.QUERY_TIME, PoolStats.QUERIES);
        avg[PoolStats.WAIT_TIME] = mean(cur, old, PoolStats.WAIT_TIME, PoolStats.ASSIGNMENTS);
        return avg;
    }

    private static long perSecond(long delta, long micros) {
        if (delta <= 0) {
            return 0;
        }
        return delta < Long.MAX_VALUE / USEC ? USEC * delta / micros : (long) (delta * (double) USEC / micros);
    }

    private static long mean(long[] cur, long[] old, int time, int count) {
        long n = cur[count] - old[count];
        return n > 0 ? (cur[time] - old[time]) / n : 0;
    }

    // ---- SHOW STATS, STATS_TOTALS, STATS_AVERAGES, TOTALS ---------------------------------------------------------

    /** Totals and averages per database, sums of its pools, with the console's own database; by name. */
    private record DatabaseRow(String database, long[] totals, long[] averages) {
    }

    private List<DatabaseRow> databases() {
        Period p = period;
        long now = System.nanoTime();
        Map<String, long[][]> byDatabase = new TreeMap<>();
        byDatabase.put(DatabaseEntry.CONSOLE_DATABASE, new long[2][PoolStats.COUNTERS]);
        for (Map.Entry<Key, PoolStats> e : pools.entrySet()) {
            long[][] sums = byDatabase.computeIfAbsent(e.getKey().database(), d -> new long[2][PoolStats.COUNTERS]);
            addTo(sums[0], e.getValue().totals());
            addTo(sums[1], p.older().get(e.getKey()));
        }
        List<DatabaseRow> rows = new ArrayList<>();
        for (Map.Entry<String, long[][]> e : byDatabase.entrySet()) {
            long[][] sums = e.getValue();
            rows.add(new DatabaseRow(e.getKey(), sums[0], averages(sums[0], sums[1], now - p.olderAt())));
        }
        return rows;
    }

    private static ConsoleTable table(String first, int firstType, List<String> numericColumns) {
        Object[] cols = new Object[2 + 2 * numericColumns.size()];
        cols[0] = first;
        cols[1] = firstType;
        for (int i = 0; i < numericColumns.size(); i++) {
            cols[2 + 2 * i] = numericColumns.get(i);
            cols[3 + 2 * i] = NUMERIC;
        }
        return ConsoleTable.typed(cols);
    }

    private static final List<String> TOTAL_NAMES = List.of("total_server_assignment_count", "total_xact_count",
            "total_query_count", "total_received", "total_sent", "total_xact_time", "total_query_time",
            "total_wait_time", "total_client_parse_count", "total_server_parse_count", "total_bind_count");
    private static final List<String> AVG_NAMES = List.of("avg_server_assignment_count", "avg_xact_count",
            "avg_query_count", "avg_recv", "avg_sent", "avg_xact_time", "avg_query_time", "avg_wait_time",
            "avg_client_parse_count", "avg_server_parse_count", "avg_bind_count");

    /** SHOW STATS: PgBouncer 1.25's 23 columns, totals then averages. */
    ConsoleTable showStats() {
        List<String> names = new ArrayList<>(TOTAL_NAMES);
        names.addAll(AVG_NAMES);
        ConsoleTable t = table("database", TEXT, names);
        for (DatabaseRow r : databases()) {
            t.row(row(r.database(), r.totals(), r.averages()));
        }
        return t;
    }

    /** SHOW STATS_TOTALS. */
    ConsoleTable showStatsTotals() {
        ConsoleTable t = table("database", TEXT, List.of("server_assignment_count", "xact_count", "query_count",
                "bytes_received", "bytes_sent", "xact_time", "query_time", "wait_time", "client_parse_count",
                "server_parse_count", "bind_count"));
        for (DatabaseRow r : databases()) {
            t.row(row(r.database(), r.totals()));
        }
        return t;
    }

    /** SHOW STATS_AVERAGES: the same names as STATS_TOTALS but for the prepared-statement ones, as PgBouncer's. */
    ConsoleTable showStatsAverages() {
        ConsoleTable t = table("database", TEXT, List.of("server_assignment_count", "xact_count", "query_count",
                "bytes_received", "bytes_sent", "xact_time", "query_time", "wait_time", "avg_client_parse_count",
                "avg_server_parse_count", "avg_bind_count"));
        for (DatabaseRow r : databases()) {
            t.row(row(r.database(), r.averages()));
        }
        return t;
    }

    private static final List<String> TOTALS_ROWS = List.of("server_assignment_count", "xact_count", "query_count",
            "client_bytes", "server_bytes", "xact_time", "query_time", "wait_time", "ps_client_parse_count",
            "ps_server_parse_count", "ps_bind_count");

    /** SHOW TOTALS: name and value rows over all pools, named after PgBouncer's struct fields. */
    ConsoleTable showTotals() {
        long[] cur = new long[PoolStats.COUNTERS];
        long[] old = new long[PoolStats.COUNTERS];
        for (DatabaseRow r : databases()) {
            addTo(cur, r.totals());
        }
        Period p = period;
        long now = System.nanoTime();
        for (long[] o : p.older().values()) {
            addTo(old, o);
        }
        long[] avg = averages(cur, old, now - p.olderAt());
        ConsoleTable t = table("name", TEXT, List.of("value"));
        for (int i = 0; i < TOTALS_ROWS.size(); i++) {
            t.row("total_" + TOTALS_ROWS.get(i), cur[i]);
        }
        for (int i = 0; i < TOTALS_ROWS.size(); i++) {
            t.row("avg_" + TOTALS_ROWS.get(i), avg[i]);
        }
        return t;
    }

    private static Object[] row(String database, long[]... parts) {
        List<Object> v = new ArrayList<>();
        v.add(database);
        for (long[] part : parts) {
            for (long x : part) {
                v.add(x);
            }
        }
        return v.toArray();
    }

    // ---- SHOW LATENCY -------------------------------------------------------------------------------------------

    /**
     * Moves every slot's latency histograms into their pools' merged ones: each loop copies and clears its own, the
     * home loop merges, and {@code then} runs on the home loop once every loop has answered. Must run on home.
     */
    private void drainLatency(Runnable then) {
        List<PoolStats> all = new ArrayList<>(pools.values());
        int[] left = {loops.length};
        for (int i = 0; i < loops.length; i++) {
            int index = i;
            loops[i].execute(() -> {
                List<PoolStats> from = new ArrayList<>();
                List<Histogram[]> drained = new ArrayList<>();
                for (PoolStats ps : all) {
                    Histogram[] h = ps.slot(index).drain();
                    if (h != null) {
                        from.add(ps);
                        drained.add(h);
                    }
                }
                home.execute(() -> {
                    for (int j = 0; j < from.size(); j++) {
                        from.get(j).merge(drained.get(j));
                    }
                    if (--left[0] == 0) {
                        then.run();
                    }
                });
            });
        }
    }

    /**
     * SHOW LATENCY (pgsvc's own): per pool, the query, transaction and wait times since start and over the last
     * complete stats_period, as count, p50, p90, p99, p99.9 and max in microseconds. {@code done} gets the table on
     * the home loop once every loop's latest values are in.
     */
    void showLatency(Consumer<ConsoleTable> done) {
        home.execute(() -> drainLatency(() -> done.accept(latencyTable())));
    }

    private static final String[] MEASURE_NAMES = {"query", "xact", "wait"};

    private ConsoleTable latencyTable() {
        ConsoleTable t = ConsoleTable.typed("database", TEXT, "user", TEXT, "span", TEXT, "measure", TEXT,
                "count", INT8, "p50_us", INT8, "p90_us", INT8, "p99_us", INT8, "p99_9_us", INT8, "max_us", INT8);
        List<PoolStats> sorted = new ArrayList<>(pools.values());
        sorted.sort(Comparator.comparing((PoolStats ps) -> ps.database).thenComparing(ps -> ps.user));
        for (PoolStats ps : sorted) {
            for (int m = 0; m < PoolStats.MEASURES; m++) {
                latencyRow(t, ps, "since_start", MEASURE_NAMES[m], ps.total[m]);
            }
            for (int m = 0; m < PoolStats.MEASURES; m++) {
                latencyRow(t, ps, "last_period", MEASURE_NAMES[m], ps.last[m]);
            }
        }
        return t;
    }

    private static void latencyRow(ConsoleTable t, PoolStats ps, String span, String measure, Histogram h) {
        long count = h.getTotalCount();
        long max = count == 0 ? 0 : h.getMaxValue();
        t.row(ps.database, ps.user, span, measure, count, percentile(h, 50, max), percentile(h, 90, max),
                percentile(h, 99, max), percentile(h, 99.9, max), max);
    }

    /** The value at a percentile, never above the maximum (HdrHistogram reports a bucket's upper end). */
    private static long percentile(Histogram h, double p, long max) {
        return h.getTotalCount() == 0 ? 0 : Math.min(max, h.getValueAtPercentile(p));
    }
}
