package pgsvc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;

import pgsvc.pooler.config.Config;
import pgsvc.pooler.config.PoolMode;
import pgsvc.pooler.config.ServiceRole;

/** The commented sample configs in conf/ load as they are, with the values their comments promise. */
class ConfSamplesTest {
    @Test
    void poolerIniLoads() throws Exception {
        Config c = Config.load(Path.of("conf/pooler.ini"));
        assertEquals(6432, c.listenPort());
        assertEquals(PoolMode.TRANSACTION, c.poolMode());
        assertEquals("scram-sha-256", c.authType());
        assertEquals(20, c.defaultPoolSize());
        assertTrue(c.databases().containsKey("appdb"));
    }

    @Test
    void routerIniLoads() throws Exception {
        Config c = Config.load(Path.of("conf/router.ini"));
        assertEquals(3, c.hosts().size());
        assertEquals(4, c.services().size());
        assertEquals(5434, c.services().get("replica").port());
        assertEquals(ServiceRole.PRIMARY, c.services().get("replica").backup().get(0));
        assertTrue(c.hosts().get("pg-test-3").offline());
        assertEquals("read-write", c.databases().get("rw").targetSessionAttrs());
    }
}
