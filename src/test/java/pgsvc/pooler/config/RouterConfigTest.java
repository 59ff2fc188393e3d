package pgsvc.pooler.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RouterConfigTest {
    @TempDir
    Path dir;

    /** The issue's example, inline comments on value lines left out: as in [pgbouncer], they would be the value. */
    private static final String EXAMPLE = String.join("\n",
            "[pgbouncer]",
            "listen_addr = *",
            "[hosts]                 ; name = connection string",
            "pg-test-1 = host=10.10.10.11 port=5432",
            "pg-test-3 = host=10.10.10.13 port=5432 offline=1 weight=100",
            "[services]",
            "primary = port=5433 role=primary dest=pooler",
            "replica = port=5434 role=replica backup=primary dest=pooler",
            "default = port=5436 role=primary dest=postgres",
            "offline = port=5438 role=offline backup=replica dest=postgres",
            "[router]",
            "check = sql",
            "check_user = dbuser_monitor",
            "check_dbname = postgres",
            "check_interval = 2",
            "check_fast_interval = 1",
            "check_down_interval = 2",
            "check_timeout = 3",
            "rise = 3",
            "fall = 3",
            "patroni_port = 8008",
            "");

    /** Enough for a valid router: one host and a check user. */
    private static final String ONE_HOST = "[pgbouncer]\n[router]\ncheck_user = mon\n[hosts]\nh1 = host=10.0.0.1\n";

    private Path write(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }

    private Config load(String text) throws Exception {
        return Config.load(write("pgsvc.ini", text));
    }

    /** The full error message for a file that must not load, with the file name replaced by {@code F}. */
    private String error(String text) throws Exception {
        Path f = write("bad.ini", text);
        ConfigException e = assertThrows(ConfigException.class, () -> Config.load(f));
        assertTrue(e.getMessage().startsWith(f + ":"), e.getMessage());
        return "F" + e.getMessage().substring(f.toString().length());
    }

    @Test
    void issueExampleParses() throws Exception {
        Config c = load(EXAMPLE);
        assertTrue(c.hasRouter());
        assertEquals(List.of("pg-test-1", "pg-test-3"), new ArrayList<>(c.hosts().keySet()));
        HostEntry h1 = c.hosts().get("pg-test-1");
        assertEquals(new HostEntry("pg-test-1", "10.10.10.11", 5432, "default", 100, false, false, null, null,
                Map.of("host", "10.10.10.11", "port", "5432")), h1);
        HostEntry h3 = c.hosts().get("pg-test-3");
        assertEquals("10.10.10.13", h3.host());
        assertTrue(h3.offline());
        assertFalse(h3.noloadbalance());
        assertEquals(100, h3.weight());
        assertEquals(List.of("host", "port", "offline", "weight"), new ArrayList<>(h3.parameters().keySet()));

        assertEquals(List.of("primary", "replica", "default", "offline"), new ArrayList<>(c.services().keySet()));
        ServiceEntry replica = c.services().get("replica");
        assertEquals(5434, replica.port());
        assertEquals(ServiceRole.REPLICA, replica.role());
        assertEquals(List.of(ServiceRole.PRIMARY), replica.backup());
        assertEquals(Dest.POOLER, replica.dest());
        ServiceEntry offline = c.services().get("offline");
        assertEquals(5438, offline.port());
        assertEquals(ServiceRole.OFFLINE, offline.role());
        assertEquals(List.of(ServiceRole.REPLICA), offline.backup());
        assertEquals(Dest.POSTGRES, offline.dest());
        assertEquals(Dest.POSTGRES, c.services().get("default").dest());

        assertEquals(new RouterSettings(CheckMethod.SQL, "dbuser_monitor", "postgres", 2_000_000, 1_000_000,
                2_000_000, 3_000_000, 3, 3, 8008), c.router());
        // The pooler's own settings are untouched by the new sections.
        assertEquals(6432, c.listenPort());
        assertEquals(List.of("*"), c.listenAddrs());
    }

    @Test
    void routerKeysOverrideDefaults() throws Exception {
        Config c = load("[pgbouncer]\n[router]\ncheck = PATRONI\ncheck_user = mon\ncheck_dbname = meta\n"
                + "check_interval = 0.5\ncheck_fast_interval = .25\ncheck_down_interval = 10\ncheck_timeout = 1.5\n"
                + "rise = 0x2\nfall = 5\npatroni_port = 8009\n[hosts]\nh1 = host=10.0.0.1 patroni_port=18008\n"
                + "h2 = host=/var/run/postgresql patroni_host=10.0.0.2\n");
        RouterSettings r = c.router();
        assertEquals(CheckMethod.PATRONI, r.check());
        assertEquals("mon", r.checkUser());
        assertEquals("meta", r.checkDbname());
        assertEquals(500_000L, r.checkIntervalMicros());
        assertEquals(250_000L, r.checkFastIntervalMicros());
        assertEquals(10_000_000L, r.checkDownIntervalMicros());
        assertEquals(1_500_000L, r.checkTimeoutMicros());
        assertEquals(2, r.rise());
        assertEquals(5, r.fall());
        assertEquals(8009, r.patroniPort());
        HostEntry h1 = c.hosts().get("h1");
        assertEquals(18008, h1.patroniPortOr(r.patroniPort()));
        assertEquals("10.0.0.1", h1.patroniHostOrHost());
        HostEntry h2 = c.hosts().get("h2");
        assertEquals(8009, h2.patroniPortOr(r.patroniPort()));
        assertEquals("10.0.0.2", h2.patroniHostOrHost());
        assertEquals("/var/run/postgresql", h2.host());
    }

    @Test
    void defaultsForHostsServicesAndRouter() throws Exception {
        Config c = load(ONE_HOST + "[services]\nrw = port=5433 role=primary\n");
        HostEntry h = c.hosts().get("h1");
        assertEquals(5432, h.port());
        assertEquals("default", h.cluster());
        assertEquals(100, h.weight());
        assertFalse(h.offline());
        assertFalse(h.noloadbalance());
        assertNull(h.patroniHost());
        assertNull(h.patroniPort());

        ServiceEntry s = c.services().get("rw");
        assertEquals("rw", s.name());
        assertNull(s.listenAddr());
        assertEquals(List.of(), s.backup());
        assertEquals(Dest.POOLER, s.dest());
        assertEquals(Balance.ROUNDROBIN, s.balance());
        assertNull(s.maxLagBytes());
        assertEquals("default", s.cluster());
        assertEquals(0, s.maxconn());

        RouterSettings r = c.router();
        assertEquals(CheckMethod.SQL, r.check());
        assertEquals("postgres", r.checkDbname());
        assertEquals(2_000_000L, r.checkIntervalMicros());
        assertEquals(1_000_000L, r.checkFastIntervalMicros());
        assertEquals(2_000_000L, r.checkDownIntervalMicros());
        assertEquals(3_000_000L, r.checkTimeoutMicros());
        assertEquals(3, r.rise());
        assertEquals(3, r.fall());
        assertEquals(8008, r.patroniPort());
        assertEquals(new RouterSettings(CheckMethod.SQL, "mon", "postgres", 2_000_000, 1_000_000, 2_000_000,
                3_000_000, 3, 3, 8008), r);
        assertEquals(new RouterSettings(CheckMethod.SQL, null, "postgres", 2_000_000, 1_000_000, 2_000_000,
                3_000_000, 3, 3, 8008), RouterSettings.DEFAULTS);
    }

    @Test
    void everyServiceKey() throws Exception {
        Config c = load("[pgbouncer]\n[router]\ncheck=patroni\n[hosts]\na = host=db-a.example cluster=pg-meta "
                + "weight=0 noloadbalance=1\n[services]\n"
                + "reports = port=6000 role=Standby backup='delayed, replica,any' dest=POSTGRES balance=leastconn "
                + "max_lag=16MB listen_addr=10.0.0.9 cluster=pg-meta maxconn=500\n");
        assertTrue(c.hasRouter());
        assertNull(c.router().checkUser(), "a patroni check needs no check_user");
        HostEntry a = c.hosts().get("a");
        assertEquals(0, a.weight());
        assertTrue(a.noloadbalance());
        assertEquals("pg-meta", a.cluster());
        ServiceEntry s = c.services().get("reports");
        assertEquals(new ServiceEntry("reports", "10.0.0.9", 6000, ServiceRole.STANDBY,
                List.of(ServiceRole.DELAYED, ServiceRole.REPLICA, ServiceRole.ANY), Dest.POSTGRES, Balance.LEASTCONN,
                16L * 1024 * 1024, "pg-meta", 500, s.parameters()), s);
        assertEquals("10.0.0.9", s.parameters().get("listen_addr"));
        assertEquals(9, s.parameters().size());
    }

    @Test
    void maxLagUnitsAre1024BasedAndCaseSensitive() {
        assertEquals(0L, ServiceEntry.parseBytes("max_lag", "0"));
        assertEquals(1_000L, ServiceEntry.parseBytes("max_lag", "1000"));
        assertEquals(1_024L, ServiceEntry.parseBytes("max_lag", "1kB"));
        assertEquals(16_777_216L, ServiceEntry.parseBytes("max_lag", "16MB"));
        assertEquals(3_221_225_472L, ServiceEntry.parseBytes("max_lag", "3GB"));
        assertEquals(2_199_023_255_552L, ServiceEntry.parseBytes("max_lag", "2TB"));
        assertEquals(8_388_607L << 40, ServiceEntry.parseBytes("max_lag", "8388607TB"));
        assertEquals(1_048_576L, ServiceEntry.parse("s", "port=1 role=replica max_lag=1MB").maxLagBytes());

        String expected = ": expected a number of bytes with an optional unit kB, MB, GB or TB, such as 16MB";
        for (String bad : List.of("16mb", "16KB", "1.5GB", "-1", "16 MB", "MB", "16B", "16MiB")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> ServiceEntry.parseBytes("max_lag", bad));
            assertEquals("invalid value \"" + bad + "\" for max_lag" + expected, e.getMessage());
        }
        assertEquals("invalid value \"8388608TB\" for max_lag: out of range", assertThrows(
                IllegalArgumentException.class, () -> ServiceEntry.parseBytes("max_lag", "8388608TB")).getMessage());
        assertEquals("invalid value \"99999999999999999999\" for max_lag: out of range", assertThrows(
                IllegalArgumentException.class,
                () -> ServiceEntry.parseBytes("max_lag", "99999999999999999999")).getMessage());
    }

    /** Pigsty's pg_default_services over its docs' pg-test cluster (.11 primary, .12 replica, .13 offline query). */
    @Test
    void pigstyFourServices() throws Exception {
        Config c = load(String.join("\n",
                "[pgbouncer]",
                "listen_addr = *",
                "listen_port = 6432",
                "[hosts]",
                "pg-test-1 = host=10.10.10.11 cluster=pg-test",
                "pg-test-2 = host=10.10.10.12 cluster=pg-test",
                "pg-test-3 = host=10.10.10.13 cluster=pg-test offline=1",
                "[services]",
                "primary = port=5433 role=primary dest=pooler cluster=pg-test",
                "replica = port=5434 role=replica backup=primary dest=pooler cluster=pg-test",
                "default = port=5436 role=primary dest=postgres cluster=pg-test",
                "offline = port=5438 role=offline backup=replica dest=postgres cluster=pg-test",
                "[router]",
                "check_user = dbuser_monitor",
                ""));
        Map<String, ServiceEntry> s = c.services();
        assertEquals(List.of(5433, 5434, 5436, 5438),
                s.values().stream().map(ServiceEntry::port).toList());
        assertEquals(List.of(ServiceRole.PRIMARY, ServiceRole.REPLICA, ServiceRole.PRIMARY, ServiceRole.OFFLINE),
                s.values().stream().map(ServiceEntry::role).toList());
        assertEquals(List.of(List.of(), List.of(ServiceRole.PRIMARY), List.of(), List.of(ServiceRole.REPLICA)),
                s.values().stream().map(ServiceEntry::backup).toList());
        assertEquals(List.of(Dest.POOLER, Dest.POOLER, Dest.POSTGRES, Dest.POSTGRES),
                s.values().stream().map(ServiceEntry::dest).toList());
        assertTrue(s.values().stream().allMatch(e -> e.cluster().equals("pg-test")));
        assertEquals(List.of(false, false, true), c.hosts().values().stream().map(HostEntry::offline).toList());
    }

    @Test
    void plainPgbouncerIniHasNoRouter() throws Exception {
        Config c = load("[databases]\nmeta = host=/var/run/postgresql pool_size=64\n[pgbouncer]\nlisten_addr = *\n"
                + "listen_port = 5433\n[users]\nmon = max_user_connections=8\n");
        assertFalse(c.hasRouter());
        assertTrue(c.hosts().isEmpty());
        assertTrue(c.services().isEmpty());
        assertEquals(RouterSettings.DEFAULTS, c.router());
        assertEquals(5433, c.listenPort());
        assertEquals(64, c.database("meta").poolSize());
        assertEquals(8, c.users().get("mon").maxUserConnections());
    }

    @Test
    void emptyRouterSectionsAreAllowed() throws Exception {
        Config c = load("[pgbouncer]\n[hosts]\n[services]\n[router]\n");
        assertFalse(c.hasRouter());
        assertEquals(RouterSettings.DEFAULTS, c.router());
        // check_user only matters once there is a host to check.
        Config noHosts = load("[pgbouncer]\n[router]\ncheck_interval = 5\n");
        assertFalse(noHosts.hasRouter());
        assertEquals(5_000_000L, noHosts.router().checkIntervalMicros());
        assertNull(noHosts.router().checkUser());
    }

    @Test
    void snapshotIsImmutable() throws Exception {
        Config c = load(ONE_HOST + "[services]\nr = port=5434 role=replica backup=primary\n");
        assertThrows(UnsupportedOperationException.class, () -> c.hosts().remove("h1"));
        assertThrows(UnsupportedOperationException.class, () -> c.services().clear());
        assertThrows(UnsupportedOperationException.class, () -> c.services().get("r").backup().add(ServiceRole.ANY));
        assertThrows(UnsupportedOperationException.class, () -> c.services().get("r").parameters().put("a", "b"));
        assertThrows(UnsupportedOperationException.class, () -> c.hosts().get("h1").parameters().remove("host"));

        List<ServiceRole> backup = new ArrayList<>(List.of(ServiceRole.PRIMARY));
        ServiceEntry copy = new ServiceEntry("x", null, 1, ServiceRole.REPLICA, backup, Dest.POOLER,
                Balance.RANDOM, null, "default", 0, Map.of());
        backup.add(ServiceRole.ANY);
        assertEquals(List.of(ServiceRole.PRIMARY), copy.backup());
    }

    @Test
    void enumsUseLowerCaseNamesAndCaseInsensitiveLookup() {
        assertEquals("delayed", ServiceRole.DELAYED.configName());
        assertEquals(ServiceRole.STANDBY, ServiceRole.fromConfig("StandBy"));
        assertNull(ServiceRole.fromConfig("leader"));
        assertNull(ServiceRole.fromConfig(null));
        assertEquals("pooler", Dest.POOLER.configName());
        assertEquals(Dest.POSTGRES, Dest.fromConfig("POSTGRES"));
        assertNull(Dest.fromConfig("pgbouncer"));
        assertEquals("leastconn", Balance.LEASTCONN.configName());
        assertEquals(Balance.RANDOM, Balance.fromConfig("Random"));
        assertNull(Balance.fromConfig("round-robin"));
        assertEquals("patroni", CheckMethod.PATRONI.configName());
        assertEquals(CheckMethod.SQL, CheckMethod.fromConfig("SQL"));
        assertNull(CheckMethod.fromConfig("http"));
    }

    @Test
    void hostErrors() throws Exception {
        String head = "[pgbouncer]\n[router]\ncheck_user = mon\n[hosts]\nok = host=10.0.0.1\n";
        assertEquals("F:6: unrecognized host parameter: role", error(head + "h = host=a role=primary\n"));
        assertEquals("F:6: host was not provided for [hosts] entry h", error(head + "h = port=5432\n"));
        assertEquals("F:6: invalid value \"a,b\" for host: expected an IP address, a host name or a Unix socket "
                + "directory starting with /", error(head + "h = host=a,b\n"));
        assertEquals("F:6: invalid port: 0", error(head + "h = host=a port=0\n"));
        assertEquals("F:6: invalid value \"257\" for weight: expected an integer from 0 to 256",
                error(head + "h = host=a weight=257\n"));
        assertEquals("F:6: invalid value \"-1\" for weight: expected an integer from 0 to 256",
                error(head + "h = host=a weight=-1\n"));
        assertEquals("F:6: invalid value \"heavy\" for weight: expected an integer",
                error(head + "h = host=a weight=heavy\n"));
        assertEquals("F:6: invalid value \"yes\" for offline: expected 0 (off) or 1 (on)",
                error(head + "h = host=a offline=yes\n"));
        assertEquals("F:6: invalid value \"2\" for noloadbalance: expected 0 (off) or 1 (on)",
                error(head + "h = host=a noloadbalance=2\n"));
        assertEquals("F:6: invalid value \"/tmp\" for patroni_host: expected an IP address or a host name",
                error(head + "h = host=a patroni_host=/tmp\n"));
        assertEquals("F:6: invalid patroni_port: 65536", error(head + "h = host=a patroni_port=65536\n"));
        assertEquals("F:6: syntax error in connection string: empty value for \"cluster\"",
                error(head + "h = host=a cluster=\n"));
        assertEquals("F:6: duplicate host: ok", error(head + "ok = host=10.0.0.2\n"));
        assertEquals("F:6: hosts ok and h are both 10.0.0.1:5432 in cluster default",
                error(head + "h = host=10.0.0.1 port=5432\n"));
        // Only a repeat within one cluster is refused.
        assertEquals(2, load(head + "h = host=10.0.0.1 cluster=other\n").hosts().size());
    }

    @Test
    void serviceErrors() throws Exception {
        String head = ONE_HOST + "[services]\n";
        assertEquals("F:7: unrecognized service parameter: check", error(head + "s = port=5433 role=primary "
                + "check=/primary\n"));
        assertEquals("F:7: port was not provided for service s", error(head + "s = role=primary\n"));
        assertEquals("F:7: role was not provided for service s", error(head + "s = port=5433\n"));
        assertEquals("F:7: invalid port: 65536", error(head + "s = port=65536 role=primary\n"));
        assertEquals("F:7: invalid value \"leader\" for role: expected one of primary, replica, offline, standby, "
                + "delayed, any", error(head + "s = port=5433 role=leader\n"));
        assertEquals("F:7: invalid value \"pgbouncer\" for dest: expected one of pooler, postgres",
                error(head + "s = port=5433 role=primary dest=pgbouncer\n"));
        assertEquals("F:7: invalid value \"first\" for balance: expected one of roundrobin, leastconn, random",
                error(head + "s = port=5433 role=primary balance=first\n"));
        assertEquals("F:7: invalid value \"primary,master\" for backup: unknown role master (expected primary, "
                + "replica, offline, standby, delayed, any)", error(head + "s = port=5433 role=replica "
                + "backup=primary,master\n"));
        assertEquals("F:7: invalid value \"primary,\" for backup: empty entry",
                error(head + "s = port=5433 role=replica backup=primary,\n"));
        assertEquals("F:7: invalid value \"offline,primary,offline\" for backup: offline is listed twice",
                error(head + "s = port=5433 role=replica backup=offline,primary,offline\n"));
        assertEquals("F:7: invalid value \"replica\" for backup: replica is already the service's role",
                error(head + "s = port=5433 role=replica backup=replica\n"));
        assertEquals("F:7: invalid value \"16mb\" for max_lag: expected a number of bytes with an optional unit kB, "
                + "MB, GB or TB, such as 16MB", error(head + "s = port=5433 role=replica max_lag=16mb\n"));
        assertEquals("F:7: invalid value \"-1\" for maxconn: must be at least 0",
                error(head + "s = port=5433 role=replica maxconn=-1\n"));
        assertEquals("F:8: duplicate service: s", error(head + "s = port=5433 role=primary\n"
                + "s = port=5434 role=replica\n"));
    }

    @Test
    void servicesNeedTheirOwnPort() throws Exception {
        String head = ONE_HOST + "[services]\n";
        assertEquals("F:8: services primary and default both use port 5433", error(head
                + "primary = port=5433 role=primary\ndefault = port=5433 role=primary dest=postgres\n"));
        assertEquals("F:7: service rw: port 6432 is the listen_port of [pgbouncer]",
                error(head + "rw = port=6432 role=primary\n"));
        // listen_port is the effective value, even when set after the services.
        assertEquals("F:7: service rw: port 7000 is the listen_port of [pgbouncer]",
                error(head + "rw = port=7000 role=primary\n[pgbouncer]\nlisten_port = 7000\n"));
        assertEquals(6432, load(head + "rw = port=6432 role=primary\n[pgbouncer]\nlisten_port = 7000\n")
                .services().get("rw").port());
    }

    @Test
    void servicesNeedHostsInTheirCluster() throws Exception {
        assertEquals("F:3: [services] needs [hosts]: no host is defined",
                error("[pgbouncer]\n[services]\nrw = port=5433 role=primary\n"));
        assertEquals("F:4: [services] needs [hosts]: no host is defined",
                error("[pgbouncer]\n[hosts]\n[services]\nrw = port=5433 role=primary\n"));
        assertEquals("F:7: service rw: no host in cluster pg-test",
                error(ONE_HOST + "[services]\nrw = port=5433 role=primary cluster=pg-test\n"));
        assertEquals("F:8: service rw: no host in cluster default", error("[pgbouncer]\n[router]\ncheck_user = m\n"
                + "[hosts]\nh = host=a cluster=pg-test\n[services]\nro = port=5434 role=replica cluster=pg-test\n"
                + "rw = port=5433 role=primary\n"));
    }

    @Test
    void routerErrors() throws Exception {
        String head = "[pgbouncer]\n[router]\n";
        assertEquals("F:3: unknown parameter: inter", error(head + "inter = 2\n"));
        assertEquals("F:3: unknown parameter: Check", error(head + "Check = sql\n"));
        assertEquals("F:3: unknown parameter: listen_port", error(head + "listen_port = 1\n"));
        assertEquals("F:3: invalid value \"http\" for parameter check: expected one of sql, patroni",
                error(head + "check = http\n"));
        // As in [pgbouncer], a ';' after the value is part of it, not a comment.
        assertEquals("F:3: invalid value \"sql ; sql | patroni\" for parameter check: expected one of sql, patroni",
                error(head + "check = sql ; sql | patroni\n"));
        assertEquals("F:3: invalid value \"2s\" for parameter check_interval: expected a number of seconds such as "
                + "15 or 0.5 (no unit suffix)", error(head + "check_interval = 2s\n"));
        assertEquals("F:3: invalid value \"0\" for parameter check_interval: must be greater than 0",
                error(head + "check_interval = 0\n"));
        assertEquals("F:3: invalid value \"0\" for parameter check_fast_interval: must be greater than 0",
                error(head + "check_fast_interval = 0\n"));
        assertEquals("F:3: invalid value \"1e-9\" for parameter check_down_interval: must be greater than 0",
                error(head + "check_down_interval = 1e-9\n"));
        assertEquals("F:3: invalid value \"-1\" for parameter check_timeout: must not be negative",
                error(head + "check_timeout = -1\n"));
        assertEquals("F:3: invalid value \"0\" for parameter rise: must be at least 1", error(head + "rise = 0\n"));
        assertEquals("F:3: invalid value \"-2\" for parameter fall: must be at least 1", error(head + "fall = -2\n"));
        assertEquals("F:3: invalid value \"three\" for parameter fall: expected an integer (decimal, 0x hexadecimal "
                + "or 0 octal)", error(head + "fall = three\n"));
        assertEquals("F:3: invalid value \"70000\" for parameter patroni_port: expected a port from 1 to 65535",
                error(head + "patroni_port = 70000\n"));
        assertEquals("F:3: invalid value \"\" for parameter check_dbname: must not be empty",
                error(head + "check_dbname =\n"));
    }

    @Test
    void sqlChecksNeedACheckUser() throws Exception {
        // Pointed at the [router] header when there is one, else at the first host.
        assertEquals("F:2: check_user is required for sql health checks",
                error("[pgbouncer]\n[router]\ncheck = sql\n[hosts]\nh = host=a\n"));
        assertEquals("F:3: check_user is required for sql health checks",
                error("[pgbouncer]\n[hosts]\nh1 = host=a\nh2 = host=b\n"));
        assertEquals("F:2: check_user is required for sql health checks",
                error("[pgbouncer]\n[router]\ncheck_user =\n[hosts]\nh = host=a\n"));
        assertEquals("mon", load("[pgbouncer]\n[hosts]\nh = host=a\n[router]\ncheck_user = mon\n")
                .router().checkUser());
    }

    @Test
    void patroniChecksNeedATcpAddress() throws Exception {
        assertEquals("F:5: host h: patroni checks need a TCP address, set patroni_host",
                error("[pgbouncer]\n[router]\ncheck = patroni\n[hosts]\nh = host=/var/run/postgresql\n"));
        // A SQL check reaches a socket directory fine.
        assertTrue(load(ONE_HOST + "s = host=/var/run/postgresql\n").hosts().containsKey("s"));
    }

    @Test
    void errorInIncludedFileNamesThatFile() throws Exception {
        Path inc = write("services.txt", "primary = port=5433 role=primary\nreplica = port=5433 role=replica\n");
        Path f = write("main.ini", ONE_HOST + "[services]\n%include " + inc + "\n");
        ConfigException e = assertThrows(ConfigException.class, () -> Config.load(f));
        assertEquals(inc + ":2: services primary and replica both use port 5433", e.getMessage());
    }
}
