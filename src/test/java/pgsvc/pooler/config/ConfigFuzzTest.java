package pgsvc.pooler.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Property tests of {@link IniParser} and {@link Config#load} over arbitrary text: a file loads into a Config or is
 * refused with a {@link ConfigException} that names the file and, where the problem is on a line, a line of it;
 * never another exception. Text is built from lines that are mostly plausible (known sections and keys, values of
 * the right shape and of the wrong one) with garbage mixed in, so that the checks behind the syntax are reached.
 */
class ConfigFuzzTest {

    private static Path dir;

    @BeforeContainer
    static void createDir() throws IOException {
        dir = Files.createTempDirectory("pgsvc-config-fuzz");
    }

    @AfterContainer
    static void deleteDir() throws IOException {
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(dir);
    }

    @Property(tries = 1500)
    void anyTextLoadsOrFailsWithTheFileAndLine(@ForAll("files") String text) {
        check(text);
    }

    @Property(tries = 300)
    void arbitraryCharactersLoadOrFailWithTheFileAndLine(@ForAll("noise") String text) {
        check(text);
    }

    /** Valid files with a few changes: the checks behind the syntax, and files that load, are reached too. */
    @Property(tries = 300)
    void mostlyValidFilesLoadOrFailWithTheFileAndLine(@ForAll("mostlyValid") String text) {
        boolean loaded = check(text);
        Statistics.label("loaded").collect(loaded);
        Statistics.label("loaded").coverage(c -> {
            c.check(true).percentage(p -> p > 10);
            c.check(false).percentage(p -> p > 10);
        });
    }

    /** Found by the properties: a NUL in an include's name was an InvalidPathException out of Config.load. */
    @Example
    void anIncludeNameWithANulByteIsAConfigErrorOnItsLine() {
        Path file = write("[pgbouncer]\n%include a\u0000b\n");
        ConfigException e = assertThrows(ConfigException.class, () -> Config.load(file));
        assertEquals(file, e.file());
        assertEquals(2, e.line());
        assertTrue(e.problem().startsWith("could not load file"), e.problem());
    }

    /** True if the text loaded. */
    private static boolean check(String text) {
        Path file = write(text);
        try {
            Config config = Config.load(file);
            assertNotNull(config);
            assertEquals(file, config.file());
            return true;
        } catch (ConfigException e) {
            assertEquals(file, e.file(), e.getMessage());
            long lines = text.isEmpty() ? 1 : text.chars().filter(c -> c == '\n').count() + 1;
            assertTrue(e.line() >= 0 && e.line() <= lines, () -> "line " + e.line() + " of " + lines + ": "
                    + e.getMessage());
            if (e.line() == 0) {
                assertTrue(FILE_WIDE.contains(e.problem()), () -> "a problem without a line: " + e.getMessage());
            }
            assertTrue(e.getMessage().startsWith(file + ":"), e.getMessage());
            return false;
        }
    }

    /** Problems that concern the whole file rather than one of its lines. */
    private static final Set<String> FILE_WIDE = Set.of("main section missing");

    private static Path write(String text) {
        try {
            Path file = Files.createTempFile(dir, "fuzz", ".ini");
            Files.write(file, text.getBytes(StandardCharsets.UTF_8));
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Provide
    Arbitrary<String> files() {
        return Arbitraries.frequencyOf(
                        Tuple.of(3, sectionHeader()),
                        Tuple.of(8, setting()),
                        Tuple.of(4, Combinators.combine(Arbitraries.of("pgsvc", "db", "*", "pgbouncer", "'q d'"),
                                connectionString(DATABASE_KEYS)).as((k, v) -> k + " = " + v)),
                        Tuple.of(2, Combinators.combine(Arbitraries.of("alice", "bob"), connectionString(USER_KEYS))
                                .as((k, v) -> k + " = " + v)),
                        Tuple.of(2, Combinators.combine(Arbitraries.of("1", "0", "70000", "99999999999", "x"),
                                connectionString(PEER_KEYS)).as((k, v) -> k + " = " + v)),
                        Tuple.of(3, Combinators.combine(Arbitraries.of("pg1", "pg2"), connectionString(HOST_KEYS))
                                .as((k, v) -> k + " = " + v)),
                        Tuple.of(3, Combinators.combine(Arbitraries.of("primary", "replica"),
                                connectionString(SERVICE_KEYS)).as((k, v) -> k + " = " + v)),
                        Tuple.of(2, Combinators.combine(Arbitraries.of(ROUTER_KEYS), value())
                                .as((k, v) -> k + " = " + v)),
                        Tuple.of(1, Arbitraries.of("; comment", "# comment", "", "   ", "\t", "%include",
                                "%include /nonexistent/pgsvc.ini", "%include " + "x".repeat(300), "=", "= value",
                                "key", "'' = 1", "'open = 1", "[", "[pgbouncer", "[unknown]", "\r", "key\t= \r")),
                        Tuple.of(1, Arbitraries.strings().withChars("ab/.\u0000\u00e9 *?").ofMaxLength(12)
                                .map(name -> "%include " + name)),
                        Tuple.of(1, Arbitraries.strings().ofMaxLength(30)))
                .list().ofMaxSize(25)
                .map(lines -> String.join("\n", lines));
    }

    @Provide
    Arbitrary<String> mostlyValid() {
        Arbitrary<String> goodSetting = Arbitraries.of(Setting.all()).flatMap(ConfigFuzzTest::goodValue);
        Arbitrary<String> line = Arbitraries.frequencyOf(
                Tuple.of(20, goodSetting),
                Tuple.of(1, setting()),
                Tuple.of(1, Arbitraries.of("; comment", "", "[databases]", "x = host=127.0.0.1 port=5432 dbname=x",
                        "[pgbouncer]")));
        return line.list().ofMaxSize(8).map(lines -> "[databases]\n"
                + "db = host=127.0.0.1 port=5432 dbname=db pool_size=5\n"
                + "* = host=/tmp\n"
                + "[users]\nalice = pool_mode=session max_user_connections=3\n"
                + "[pgbouncer]\nlisten_port = 6432\nauth_type = trust\n" + String.join("\n", lines) + "\n");
    }

    /** A value of the setting's type: what PgBouncer would load. */
    private static Arbitrary<String> goodValue(Setting s) {
        Arbitrary<String> v = switch (s.type()) {
            case INT, BOOL -> Arbitraries.of("0", "1", "5", "0x10", "010");
            case UINT -> Arbitraries.of("0", "1", "2147483648", "4294967295");
            case TIME -> Arbitraries.of("0", "0.5", "1", "30", "3600.25");
            case ENUM -> Arbitraries.of(s.allowedValues());
            case STRING -> Arbitraries.of("", "x", "postgres", "a, b", "/tmp/pgsvc-fuzz-none");
        };
        return v.map(value -> s.name() + " = " + value);
    }

    @Provide
    Arbitrary<String> noise() {
        return Arbitraries.oneOf(
                Arbitraries.strings().ofMaxLength(200),
                Arbitraries.strings().withChars("[]=;#%'\" \t\r\n\u0000pgbouncer").ofMaxLength(200),
                Arbitraries.strings().withChars("[]=;#%'\" \t\r\n").ofMaxLength(80)
                        .map(s -> "[pgbouncer]\n" + s));
    }

    private static Arbitrary<String> sectionHeader() {
        return Arbitraries.of("[pgbouncer]", "[databases]", "[users]", "[peers]", "[hosts]", "[services]", "[pgsvc]",
                "[router]", "[ pgbouncer ]", "[PgBouncer]", "[]", "  [pgbouncer]  ; trailing");
    }

    private static Arbitrary<String> setting() {
        Arbitrary<String> key = Arbitraries.oneOf(
                Arbitraries.of(Setting.all()).map(Setting::name),
                Arbitraries.of("unknown_key", "'listen_port'", "LISTEN_PORT", "max_client_conn "));
        return Combinators.combine(key, value(), Arbitraries.of(" = ", "=", " =", "\t=\t"))
                .as((k, v, eq) -> k + eq + v);
    }

    /** Values of every shape a setting takes, right and wrong for the key they land on. */
    private static Arbitrary<String> value() {
        return Arbitraries.oneOf(
                Arbitraries.of("", "0", "1", "-1", "2", "10", "65535", "65536", "2147483647", "2147483648",
                        "-2147483649", "99999999999999999999", "0.5", "1.5", "1e3", "1e400", "NaN", "Infinity",
                        "-0", "0x10", "00012", " 12 ", "1s", "10min", "yes", "no", "true", "on", "session",
                        "transaction", "statement", "md5", "scram-sha-256", "hba", "trust", "any", "plain", "cert",
                        "*", "127.0.0.1", "::1", "/tmp", "''", "'quoted'", "\"dq\"", "a,b,,c", ",", "%", "$1",
                        "disable", "require", "verify-full", "read-write", "prefer", "sql", "patroni", "0777", "999"),
                Arbitraries.integers().map(String::valueOf),
                Arbitraries.doubles().map(String::valueOf),
                Arbitraries.strings().withChars("0123456789.-+eE ").ofMaxLength(12),
                Arbitraries.strings().ofMaxLength(16));
    }

    private static final List<String> DATABASE_KEYS = List.of("host", "port", "dbname", "user", "password",
            "auth_user", "auth_query", "auth_dbname", "pool_size", "min_pool_size", "reserve_pool", "reserve_pool_size",
            "pool_mode", "max_db_connections", "max_db_client_connections", "server_lifetime", "client_encoding",
            "datestyle", "timezone", "application_name", "connect_query", "load_balance_hosts",
            "target_session_attrs", "query_wait_timeout", "bogus");
    private static final List<String> USER_KEYS = List.of("pool_mode", "pool_size", "reserve_pool_size",
            "max_user_connections", "max_user_client_connections", "query_timeout", "idle_transaction_timeout",
            "client_idle_timeout", "transaction_timeout", "query_wait_timeout", "bogus");
    private static final List<String> PEER_KEYS = List.of("host", "port", "pool_size", "bogus");
    private static final List<String> HOST_KEYS = List.of("host", "port", "cluster", "name", "weight", "offline",
            "noloadbalance", "patroni_host", "patroni_port", "bogus");
    private static final List<String> SERVICE_KEYS = List.of("port", "cluster", "role", "backup", "dest", "balance",
            "maxconn", "max_lag", "listen_addr", "name", "bogus");
    private static final List<String> ROUTER_KEYS = List.of("check", "check_user", "check_dbname", "check_interval",
            "check_fast_interval", "check_down_interval", "check_timeout", "rise", "fall", "patroni_port", "bogus");

    /** A libpq-style {@code key=value ...} string over these keys, sometimes quoted, sometimes broken. */
    private static Arbitrary<String> connectionString(List<String> keys) {
        Arbitrary<String> pair = Combinators.combine(Arbitraries.of(keys), Arbitraries.oneOf(value(),
                        Arbitraries.of("primary", "replica", "offline", "standby", "any", "pooler", "postgres",
                                "roundrobin", "leastconn", "h1,h2", "h1,,h2", "'a b'", "'it''s'", "'unterminated",
                                "a\\ b", "'\\'")),
                        Arbitraries.of("=", " = ", "= ", "==", ""))
                .as((k, v, eq) -> k + eq + v);
        return pair.list().ofMaxSize(5).map(pairs -> String.join(" ", pairs));
    }
}
