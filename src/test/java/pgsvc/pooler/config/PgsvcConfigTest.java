package pgsvc.pooler.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The [pgsvc] section: optional, off by default, parsed as strictly as [pgbouncer] with file:line errors. */
class PgsvcConfigTest {
    @TempDir
    Path dir;

    private Config load(String text) throws Exception {
        return Config.load(Files.writeString(dir.resolve("pgsvc.ini"), text));
    }

    /** The error for a file that must not load, with the file name replaced by {@code F}. */
    private String error(String text) throws Exception {
        Path f = Files.writeString(dir.resolve("bad.ini"), text);
        ConfigException e = assertThrows(ConfigException.class, () -> Config.load(f));
        assertTrue(e.getMessage().startsWith(f + ":"), e.getMessage());
        return "F" + e.getMessage().substring(f.toString().length());
    }

    @Test
    void withoutTheSectionThereIsNoMetricsEndpoint() throws Exception {
        Config c = load("[pgbouncer]\nlisten_port = 6432\n");
        assertEquals(PgsvcSettings.DEFAULTS, c.pgsvc());
        assertFalse(c.pgsvc().metricsEnabled());
        assertEquals("127.0.0.1", c.pgsvc().metricsAddr());
    }

    @Test
    void metricsPortTurnsItOn() throws Exception {
        Config c = load("[pgbouncer]\n[pgsvc]\nmetrics_addr = *\nmetrics_port = 0x2397\n");
        assertEquals(new PgsvcSettings("*", 9111), c.pgsvc());
        assertTrue(c.pgsvc().metricsEnabled());
        // SET on the console keeps the section.
        assertEquals(c.pgsvc(), c.with("verbose", "1").pgsvc());
    }

    @Test
    void badLinesAreRefusedAtTheirLine() throws Exception {
        assertEquals("F:3: unknown parameter: metrics_path", error("[pgbouncer]\n[pgsvc]\nmetrics_path = /m\n"));
        assertEquals("F:3: invalid value \"70000\" for parameter metrics_port: expected a port from 1 to 65535, "
                + "or 0 for off", error("[pgbouncer]\n[pgsvc]\nmetrics_port = 70000\n"));
        assertEquals("F:3: invalid value \"x\" for parameter metrics_port: expected an integer (decimal, "
                + "0x hexadecimal or 0 octal)", error("[pgbouncer]\n[pgsvc]\nmetrics_port = x\n"));
        assertEquals("F:3: invalid value \"a,b\" for parameter metrics_addr: expected one address, a host name or "
                + "* for every address", error("[pgbouncer]\n[pgsvc]\nmetrics_addr = a,b\n"));
    }

    @Test
    void theMetricsPortMayNotBeTakenByAListener() throws Exception {
        assertEquals("F:4: metrics_port 6432 is the listen_port of [pgbouncer]",
                error("[pgbouncer]\nlisten_port = 6432\n[pgsvc]\nmetrics_port = 6432\n"));
        assertEquals("F:7: metrics_port 5433 is the port of service primary",
                error("[pgbouncer]\n[router]\ncheck_user = mon\n[hosts]\nh1 = host=10.0.0.1\n[pgsvc]\n"
                        + "metrics_port = 5433\n[services]\nprimary = port=5433 role=primary\n"));
    }
}
