package pgsvc.pooler.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.net.InetAddress;
import java.nio.file.Path;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The pgb_hba.conf Pigsty renders from its default pgbouncer rules (src/test/resources/pigsty, also loaded whole by
 * pgsvc.it.PigstyTemplateTest): every line parses, and each client lands on the rule Pigsty means for it, including
 * the intranet and IPv6 lines a loopback test cannot reach.
 */
class PigstyHbaTest {
    private static Hba hba;

    @BeforeAll
    static void load() throws Exception {
        Path file = Path.of(PigstyHbaTest.class.getResource("/pigsty/pgb_hba.conf").toURI());
        hba = Hba.load(file);
    }

    @Test
    void everyLineLoads() {
        assertEquals(java.util.List.of(), hba.warnings());
    }

    /** address "unix" is a Unix-socket client; method "none" is no matching line. */
    @ParameterizedTest
    @CsvSource({
        "unix,           pgbouncer, postgres,       peer,          29",
        "unix,           meta,      postgres,       scram-sha-256, 32",
        "unix,           pgbouncer, dbuser_dba,     scram-sha-256, 32",
        "127.0.0.1,      pgbouncer, postgres,       scram-sha-256, 33",
        "127.0.0.1,      meta,      dbuser_dba,     scram-sha-256, 33",
        "::1,            meta,      dbuser_meta,    scram-sha-256, 34",
        "10.10.10.11,    pgbouncer, dbuser_monitor, scram-sha-256, 37",
        "192.168.1.5,    pgbouncer, dbuser_monitor, scram-sha-256, 39",
        "10.10.10.11,    meta,      dbuser_monitor, reject,        42",
        "2001:db8::1,    pgbouncer, dbuser_monitor, reject,        43",
        "172.16.0.9,     meta,      dbuser_dba,     scram-sha-256, 47",
        "127.0.0.2,      meta,      dbuser_dba,     reject,        51",
        "2001:db8::1,    meta,      dbuser_dba,     reject,        52",
        "10.10.10.11,    meta,      dbuser_meta,    scram-sha-256, 55",
        "192.0.2.1,      meta,      dbuser_meta,    none,          0",
        "2001:db8::1,    meta,      dbuser_meta,    none,          0",
    })
    void eachClientGetsTheRulePigstyMeans(String address, String database, String user, String method, int line)
            throws Exception {
        InetAddress client = address.equals("unix") ? null : InetAddress.getByName(address);
        Hba.Rule rule = hba.match(ConnectionKind.NORMAL, database, user, client, false);
        if (method.equals("none")) {
            assertNull(rule, () -> "line " + rule.line());
            return;
        }
        assertNotNull(rule);
        assertEquals(method, rule.method().keyword());
        assertEquals(line, rule.line());
    }
}
