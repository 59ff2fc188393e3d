package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Pattern;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

import pgsvc.JqwikLeakGuard;

/**
 * Property tests of the admin console's command parser over the wire: any Query text gets an ErrorResponse or a
 * result, then ReadyForQuery, and the connection goes on; any frame the console cannot take ends the connection with
 * a FATAL ErrorResponse, never in silence. No PostgreSQL is needed: the console answers from the pooler alone.
 */
@AddLifecycleHook(JqwikLeakGuard.class)
class ConsoleFuzzTest {
    private static final String ADMIN = "postgres";
    private static final String ADMIN_PASSWORD = "postgres";
    private static final String STATS = "pgsvc_md5";
    private static final String STATS_PASSWORD = "md5pass";
    /** Commands that would end the fixture (SHUTDOWN) or this connection (KILL_CLIENT): not sent as the admin. */
    private static final Pattern ENDS_THE_TEST = Pattern.compile("^[ \\t\\n\\r]*\"?(shutdown|kill_client)\\b.*",
            Pattern.CASE_INSENSITIVE | Pattern.DOTALL);

    private static PoolerFixture pgsvc;
    private static WireClient admin;
    private static WireClient stats;

    @BeforeContainer
    static void start() throws IOException {
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("admin_users", ADMIN);
        settings.put("stats_users", STATS);
        // Nothing listens there: the console never needs a server.
        pgsvc = PoolerFixture.builder(settings).upstreamPort(PoolerFixture.freePort()).start();
        admin = console(ADMIN, ADMIN_PASSWORD);
        stats = console(STATS, STATS_PASSWORD);
    }

    @AfterContainer
    static void stop() throws IOException {
        try {
            if (admin != null) {
                admin.close();
            }
            if (stats != null) {
                stats.close();
            }
        } finally {
            if (pgsvc != null) {
                pgsvc.close();
            }
        }
    }

    private static WireClient console(String user, String password) throws IOException {
        WireClient c = WireClient.open(pgsvc.port());
        List<WireClient.Message> login = c.login(user, password, Map.of("database", "pgbouncer"));
        assertEquals('Z', login.get(login.size() - 1).type(), () -> "console login: " + login);
        return c;
    }

    @Property(tries = 400)
    void anyQueryAsAStatsUserGetsAnErrorOrAResult(@ForAll("queries") String sql) throws IOException {
        answered(stats, sql);
    }

    @Property(tries = 400)
    void anyQueryAsAnAdminGetsAnErrorOrAResult(@ForAll("queries") String sql) throws IOException {
        if (ENDS_THE_TEST.matcher(sql).matches()) {
            return;
        }
        answered(admin, sql);
    }

    /** Found by the properties: a long quoted word overflowed the stack of the regex matcher, and no answer came. */
    @Example
    void aLongQuotedArgumentIsRefusedWithAnError() throws IOException {
        WireClient.Result r = answered(stats, "SHOW \"" + "a".repeat(20_000) + "\"");
        assertEquals("08P01", r.sqlState());
        r = answered(stats, "SET \"" + "\"\"".repeat(20_000) + "\" = 'x'");
        assertEquals("08P01", r.sqlState());
    }

    /** Sends {@code sql}: an error or a result, then ReadyForQuery, must come back, and the session go on. */
    private static WireClient.Result answered(WireClient c, String sql) throws IOException {
        WireClient.Result r = c.query(sql);
        assertEquals('I', r.txStatus());
        assertTrue(r.sqlState() != null || !r.tags().isEmpty(), () -> "neither error nor result for " + sql);
        assertTrue(r.sqlState() == null || r.tags().isEmpty(), () -> "both error and result for " + sql);
        WireClient.Result version = c.query("SHOW VERSION");
        assertEquals(List.of("SHOW"), version.tags(), "the console stopped answering after: " + sql);
        return r;
    }

    /**
     * Complete frames of any type, possibly a Query without its terminator, possibly a header too short for a frame,
     * followed by a Query whose error carries a marker: either that error comes back after answers to the Queries
     * before it, or the connection ends with a FATAL ErrorResponse (or silently, after a Terminate).
     */
    @Property(tries = 150)
    void anyFramesGetAnswersOrAFatalErrorNeverSilence(@ForAll("frames") List<byte[]> frames) throws IOException {
        // Not a word of the console's grammar, so the error is "invalid command" quoting it.
        String marker = "fuzz-end-" + UUID.randomUUID();
        Expected expected = Expected.of(frames);
        try (WireClient c = console(STATS, STATS_PASSWORD)) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            frames.forEach(out::writeBytes);
            out.writeBytes(query(marker + "\0"));
            c.sendRaw(out.toByteArray());
            List<WireClient.Message> seen = new ArrayList<>();
            boolean eof = false;
            try {
                while (true) {
                    WireClient.Message m = c.read();
                    seen.add(m);
                    if (m.type() == 'Z' && seen.size() >= 2 && seen.get(seen.size() - 2).type() == 'E'
                            && seen.get(seen.size() - 2).fields().getOrDefault('M', "").contains(marker)) {
                        break;
                    }
                }
            } catch (EOFException | SocketException end) {
                eof = true;
            }
            long answers = seen.stream().filter(m -> m.type() == 'Z').count();
            switch (expected.end) {
                case ALIVE -> {
                    assertTrue(!eof, () -> "connection ended: " + describe(seen));
                    assertEquals(expected.queries + 1, answers, () -> describe(seen));
                }
                case FATAL -> {
                    assertTrue(eof, () -> "still open after a bad frame: " + describe(seen));
                    assertEquals(expected.queries, answers, () -> describe(seen));
                    WireClient.Message last = seen.get(seen.size() - 1);
                    assertEquals('E', last.type(), () -> "no FATAL before the end: " + describe(seen));
                    assertEquals("FATAL", last.fields().get('S'), () -> describe(seen));
                    assertEquals("08P01", last.fields().get('C'), () -> describe(seen));
                }
                case TERMINATE -> {
                    assertTrue(eof, () -> "still open after Terminate: " + describe(seen));
                    assertEquals(expected.queries, answers, () -> describe(seen));
                }
            }
        }
    }

    /** Found by the properties: a Query without its terminating NUL got no answer at all. */
    @Example
    void aQueryWithoutItsTerminatorIsAFatalError() throws IOException {
        anyFramesGetAnswersOrAFatalErrorNeverSilence(List.of(frame((byte) 'Q', "SHOW VERSION".getBytes(
                StandardCharsets.UTF_8))));
    }

    /** Found by the properties: SHOW POOLS answers later, and a bad header right behind it lost that answer. */
    @Example
    void aBadHeaderBehindADeferredShowIsRefusedAfterItsAnswer() throws IOException {
        anyFramesGetAnswersOrAFatalErrorNeverSilence(List.of(query("SHOW pools\0"), new byte[5]));
    }

    /** Found by the properties: a Query without terminator held behind a deferred SHOW went unanswered. */
    @Example
    void anUnterminatedQueryBehindADeferredShowIsAFatalErrorAfterItsAnswer() throws IOException {
        anyFramesGetAnswersOrAFatalErrorNeverSilence(List.of(query("SHOW pools\0"), frame((byte) 'Q', new byte[0]),
                query("SHOW VERSION\0")));
    }

    /**
     * The password and the first bytes of a Query in one write, the rest later. The console takes the connection over
     * from the client connection at login, with the part of a frame that one holds: the whole Query is answered.
     */
    @Example
    void aQueryBegunWithThePasswordIsAnsweredWhenItsRestComes() throws IOException {
        byte[] show = query("SHOW VERSION\0");
        try (WireClient c = WireClient.open(pgsvc.port())) {
            List<WireClient.Message> login = c.login(STATS, STATS_PASSWORD, Map.of("database", "pgbouncer"),
                    Arrays.copyOf(show, 7));
            assertEquals('Z', login.get(login.size() - 1).type(), () -> describe(login));
            c.sendRaw(Arrays.copyOfRange(show, 7, show.length));
            WireClient.Result r = c.readResult(true);
            assertEquals(List.of("SHOW"), r.tags());
            assertTrue(r.values().get(0).startsWith("PgBouncer"), () -> "SHOW VERSION: " + r.values());
        }
    }

    /** A bad header in the same write as the password: the console, once logged in, ends with a FATAL for it. */
    @Example
    void aBadHeaderSentWithThePasswordIsTheConsolesFatalError() throws IOException {
        try (WireClient c = WireClient.open(pgsvc.port())) {
            List<WireClient.Message> login = c.login(STATS, STATS_PASSWORD, Map.of("database", "pgbouncer"),
                    new byte[5]);
            assertEquals('Z', login.get(login.size() - 1).type(), () -> describe(login));
            WireClient.Message fatal = c.read();
            assertEquals('E', fatal.type());
            assertEquals("FATAL", fatal.fields().get('S'));
            assertEquals("08P01", fatal.fields().get('C'));
            assertTrue(fatal.fields().get('M').contains("bad packet header"), () -> fatal.fields().toString());
            assertThrows(EOFException.class, c::read);
        }
    }

    private static String describe(List<WireClient.Message> seen) {
        StringBuilder s = new StringBuilder();
        for (WireClient.Message m : seen) {
            s.append(m.type()).append(m.type() == 'E' || m.type() == 'N' ? m.fields().toString() : "").append(' ');
        }
        return s.toString();
    }

    private enum End { ALIVE, FATAL, TERMINATE }

    /** What the console must do with these frames: answer every Query up to the first frame that ends it. */
    private record Expected(End end, int queries) {
        static Expected of(List<byte[]> frames) {
            int queries = 0;
            for (byte[] f : frames) {
                int length = ByteBuffer.wrap(f, 1, 4).getInt();
                if (length < 4) {
                    return new Expected(End.FATAL, queries);
                }
                switch (f[0]) {
                    case 'Q' -> {
                        if (indexOfNul(f) < 0) {
                            return new Expected(End.FATAL, queries);
                        }
                        queries++;
                    }
                    case 'X' -> {
                        return new Expected(End.TERMINATE, queries);
                    }
                    default -> {
                        return new Expected(End.FATAL, queries);
                    }
                }
            }
            return new Expected(End.ALIVE, queries);
        }

        private static int indexOfNul(byte[] frame) {
            for (int i = 5; i < frame.length; i++) {
                if (frame[i] == 0) {
                    return i;
                }
            }
            return -1;
        }
    }

    private static byte[] frame(byte type, byte[] body) {
        return ByteBuffer.allocate(5 + body.length).put(type).putInt(4 + body.length).put(body).array();
    }

    private static byte[] query(String text) {
        return frame((byte) 'Q', text.getBytes(StandardCharsets.UTF_8));
    }

    @Provide
    Arbitrary<List<byte[]>> frames() {
        Arbitrary<byte[]> goodQuery = queries().map(q -> query(q.replace('\0', ' ') + "\0"));
        Arbitrary<byte[]> unterminated = Arbitraries.strings().withChars("showSHOW \"'abc").ofMaxLength(20)
                .map(q -> frame((byte) 'Q', q.replace('\0', ' ').getBytes(StandardCharsets.UTF_8)));
        Arbitrary<byte[]> anyType = Combinators.combine(Arbitraries.bytes(),
                        Arbitraries.bytes().array(byte[].class).ofMaxSize(40))
                .as(ConsoleFuzzTest::frame);
        Arbitrary<byte[]> shortHeader = Combinators.combine(Arbitraries.bytes(), Arbitraries.integers().between(-3, 3))
                .as((type, length) -> ByteBuffer.allocate(5).put(type).putInt(length).array());
        return Arbitraries.frequencyOf(
                        Tuple.of(6, goodQuery),
                        Tuple.of(1, unterminated),
                        Tuple.of(2, anyType),
                        Tuple.of(1, shortHeader),
                        Tuple.of(1, Arbitraries.just(frame((byte) 'X', new byte[0]))))
                .list().ofMaxSize(5);
    }

    @Provide
    Arbitrary<String> queries() {
        Arbitrary<String> verb = Arbitraries.of("SHOW", "show", "SELECT", "PAUSE", "RESUME", "SUSPEND", "DISABLE",
                "ENABLE", "RECONNECT", "KILL", "WAIT_CLOSE", "RELOAD", "SET", "\"show\"", "\"SH\"\"OW\"", "shutdown",
                "kill_client", "NOPE", "", "\"\"", "x".repeat(17));
        Arbitrary<String> arg = Arbitraries.oneOf(
                Arbitraries.of("pools", "POOLS", "clients", "servers", "sockets", "active_sockets", "lists", "mem",
                        "fds", "help", "version", "state", "config", "databases", "users", "peers", "peer_pools",
                        "dns_hosts", "dns_zones", "hosts", "services", "stats", "client_encoding", "pgbouncer",
                        "pgsvc", "nosuchdb", "12", "99999999999999999999", "\"pools\"", "\"a\"\"b\"", "\"\"",
                        "wait_for_servers", "WAIT_FOR_CLIENTS", "a".repeat(64), "'string'"),
                Arbitraries.strings().withChars("az_09\"' ;=\t\n").ofMaxLength(12));
        Arbitrary<String> set = Combinators.combine(
                        Arbitraries.of("client_encoding", "DateStyle", "verbose", "no_such_key", "listen_port",
                                "default_pool_size", "\"verbose\"", "\"\"", "k".repeat(64)),
                        Arbitraries.of(" = ", "=", " TO ", " to", " == ", " "),
                        Arbitraries.of("'1'", "1", "'it''s'", "'unterminated", "\"word\"", "''", "-1", "'x'",
                                "'" + "v".repeat(256) + "'", "utf8"))
                .as((k, eq, v) -> "SET " + k + eq + v);
        Arbitrary<String> command = Combinators.combine(
                        Arbitraries.of("", " ", "\n\t "), verb, Arbitraries.of(" ", "  ", "\t", "", "\r\n"), arg,
                        Arbitraries.of("", ";", " ; ", ";;", " ;\n", "; x"))
                .as((lead, v, ws, a, tail) -> lead + v + ws + a + tail);
        return Arbitraries.frequencyOf(
                Tuple.of(6, command),
                Tuple.of(2, set),
                Tuple.of(2, Arbitraries.strings().ofMaxLength(40).map(s -> s.replace('\0', ' '))),
                Tuple.of(1, Arbitraries.strings().withChars("\"' ;=aSHOW").ofMinLength(1).ofMaxLength(2000)),
                Tuple.of(1, Combinators.combine(Arbitraries.of("SHOW \"", "kill '", "SET \"", "SET a = '"),
                                Arbitraries.strings().withChars("a ;=\"\"").ofMinLength(2000).ofMaxLength(8000))
                        .as((head, body) -> head + body + head.substring(head.length() - 1))));
    }
}
