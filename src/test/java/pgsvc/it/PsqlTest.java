package pgsvc.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import pgsvc.testing.PgCluster;
import pgsvc.testing.PgClusterExtension;
import pgsvc.testing.ProcResult;
import pgsvc.testing.Tools;

/** psql through pgsvc, over TCP and over pgsvc's Unix socket, in transaction mode. */
@ExtendWith(PgClusterExtension.class)
class PsqlTest {
    private static PoolerFixture pooler;
    private static Path socketDir;

    @BeforeAll
    static void start() throws Exception {
        socketDir = Files.createTempDirectory("pgsvc-sock");
        Map<String, String> settings = PoolerFixture.defaults();
        settings.put("unix_socket_dir", socketDir.toString());
        pooler = PoolerFixture.start(settings);
        try (Connection c = PgCluster.shared().primary().connect("pgsvc", "postgres", "postgres");
             Statement st = c.createStatement()) {
            st.execute("DROP TABLE IF EXISTS it_psql");
            st.execute("CREATE TABLE it_psql (via text, id int, v text, PRIMARY KEY (via, id))");
            st.execute("GRANT ALL ON it_psql TO pgsvc_md5");
        }
    }

    @AfterAll
    static void stop() {
        pooler.close();
    }

    /** psql as pgsvc_md5 to database pgsvc, over TCP or the Unix socket: quiet, unaligned, tuples only. */
    private static ProcResult psql(String via, String... args) {
        String host = via.equals("unix") ? socketDir.toString() : "127.0.0.1";
        List<String> all = new ArrayList<>(List.of("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                "-h", host, "-p", Integer.toString(pooler.port()), "-U", "pgsvc_md5", "-d", "pgsvc"));
        all.addAll(List.of(args));
        return Tools.psqlArgs("md5pass", all.toArray(new String[0]));
    }

    @ParameterizedTest
    @ValueSource(strings = {"tcp", "unix"})
    void selectOne(String via) {
        assertEquals("1", psql(via, "-c", "select 1").value());
    }

    @ParameterizedTest
    @ValueSource(strings = {"tcp", "unix"})
    void scriptWithVariablesAndTransactions(String via) throws Exception {
        Path script = Files.createTempFile("pgsvc-psql", ".sql");
        try {
            Files.writeString(script, """
                    \\set n 5
                    DELETE FROM it_psql WHERE via = :'via';
                    BEGIN;
                    SELECT pg_backend_pid() AS pid \\gset
                    INSERT INTO it_psql SELECT :'via', g, 'row ' || g FROM generate_series(1, :n) g;
                    SELECT count(*) FROM it_psql WHERE via = :'via';
                    SELECT pg_backend_pid() = :pid;
                    COMMIT;
                    BEGIN;
                    INSERT INTO it_psql VALUES (:'via', 100, 'rolled back');
                    ROLLBACK;
                    SELECT string_agg(id::text, ',' ORDER BY id) FROM it_psql WHERE via = :'via';
                    """);
            // 5 rows seen inside the transaction, all of it on one backend, and the rolled back row gone.
            assertEquals("5\nt\n1,2,3,4,5", psql(via, "-v", "via=" + via, "-f", script.toString()).value());
        } finally {
            Files.deleteIfExists(script);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tcp", "unix"})
    void copyInAndOutThroughFiles(String via) throws Exception {
        Path dir = Files.createTempDirectory("pgsvc-copy");
        Path in = dir.resolve("in.tsv");
        Path out = dir.resolve("out.tsv");
        Path script = dir.resolve("copy.sql");
        try {
            StringBuilder rows = new StringBuilder();
            for (int i = 1; i <= 1000; i++) {
                rows.append(via).append('\t').append(i).append('\t').append("line ").append(i).append('\n');
            }
            Files.writeString(in, rows);
            Files.writeString(script, "DELETE FROM it_psql WHERE via = '" + via + "';\n"
                    + "\\copy it_psql FROM '" + in + "'\n"
                    + "SELECT count(*) FROM it_psql WHERE via = '" + via + "';\n"
                    + "\\copy (SELECT * FROM it_psql WHERE via = '" + via + "' ORDER BY id) TO '" + out + "'\n");
            assertEquals("1000", psql(via, "-f", script.toString()).value());
            assertEquals(rows.toString(), Files.readString(out, StandardCharsets.UTF_8));
        } finally {
            for (Path p : List.of(in, out, script, dir)) {
                Files.deleteIfExists(p);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tcp", "unix"})
    void anErrorStopsTheScriptAndNamesTheProblem(String via) {
        ProcResult r = psql(via, "-c", "select 1/0");
        assertTrue(r.exitCode() != 0 && !r.timedOut(), r.describe());
        assertTrue(r.stderr().contains("division by zero"), r.describe());
        assertEquals("2", psql(via, "-c", "select 2").value(), "the pool serves the next client");
    }
}
