package pgsvc.router;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import pgsvc.pooler.config.Config;

/** The startup warning names settings given with a value pgsvc would not honour, and nothing else. */
class CoverageTest {
    @TempDir
    Path dir;

    private Config load(String pgbouncer) throws Exception {
        Path ini = dir.resolve("pooler.ini");
        Files.writeString(ini, "[databases]\n* = host=127.0.0.1\n[pgbouncer]\n" + pgbouncer);
        return Config.load(ini);
    }

    @Test
    void aSettingNotAppliedIsNamedOnlyWhenItDiffersFromItsDefault() throws Exception {
        assertEquals(List.of(), Coverage.notApplied(load("pkt_buf = 4096\nsbuf_loopcnt = 5\n")));
        assertEquals(List.of("pkt_buf"), Coverage.notApplied(load("pkt_buf = 8192\nsbuf_loopcnt = 5\ndns_zone_check_period = 0.0\n")));
    }

    @Test
    void appliedSettingsAreNeverNamed() throws Exception {
        assertEquals(List.of(), Coverage.notApplied(load("query_timeout = 5\nclient_idle_timeout = 60\n"
                + "max_db_client_connections = 10\nserver_check_query = select 1\n")));
    }
}
