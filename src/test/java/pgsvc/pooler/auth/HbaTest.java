package pgsvc.pooler.auth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import pgsvc.pooler.config.ConfigException;

class HbaTest {
    /** The rules, one per line; bad lines sit in front of the catch-all to show that they are skipped. */
    private static final List<String> LINES = List.of(
            "# TYPE  DATABASE  USER  ADDRESS  METHOD",
            "",
            "local   all             admin                       peer",
            "local   sameuser        all                         md5   # sameuser: database named as the user",
            "host    replication     repl        10.0.0.0/8      scram-sha-256",
            "host    \"Quoted Db\",\"x,y\" \"Mixed User\",\"say \"\"hi\"\"\" 10.1.0.0/16 password",
            "hostssl all             all         10.2.0.0 255.255.0.0  cert",
            "hostnossl all           all         10.2.0.0 255.255.0.0  md5",
            "host    @dbs.txt        @users.txt  192.168.0.0/24  trust",
            "host    all             all         2001:db8::/32   scram-sha-256",
            "host    all             all         ::1/128         trust",
            "host    all             bob         10.3.0.1/32     reject",
            "host    all             all         10.3.0.0/16     md5",
            "host    all             all         10.5.0.0/15     trust",
            "host    all,\"all\"       a,b , c     10.6.0.0/16     password",
            "hostgssenc all          all         10.9.0.0/16     trust",
            "host    all             all         10.9.0.0/33     trust",
            "host    all             all         10.9.0.0/       trust",
            "host    all             all         db.example.com  trust",
            "host    all             all         samenet         trust",
            "host    all             all         10.9.0.0/16     pam",
            "host    all             all         10.9.0.0/16     ldap ldapserver=x",
            "host    samerole        all         10.9.0.0/16     trust",
            "host    all             +admins     10.9.0.0/16     trust",
            "host    all             all         10.9.0.0/16     peer map=ops",
            "host    all             all         10.9.0.0/16     trust extra",
            "host    @missing.txt    all         10.9.0.0/16     trust",
            "host    all             all         10.9.0.0 trust",
            "host    \"unterminated  all         10.9.0.0/16     trust",
            "local   all             all",
            "host    all,            all         10.9.0.0/16     trust",
            "HOST    all             all         10.9.0.0/16     trust",
            "host    all             all         10.9.0.0/16     TRUST",
            "host    all             all         all             reject");

    @TempDir
    static Path dir;
    private static Hba hba;

    @BeforeAll
    static void load() throws Exception {
        // The HBA file lives in conf/; its @files are found there and not in the working directory.
        Path conf = Files.createDirectories(dir.resolve("conf"));
        Files.writeString(conf.resolve("hba.conf"), String.join("\n", LINES) + "\n");
        Files.writeString(conf.resolve("dbs.txt"), "# databases\n\nsales, \"Q Db\"\nhr ops # two on one line\n");
        Files.writeString(conf.resolve("users.txt"), "alice\n@more/nested.txt\n");
        Files.createDirectories(conf.resolve("more"));
        // Relative to users.txt's directory (conf/more), not to the HBA file's.
        Files.writeString(conf.resolve("more/nested.txt"), "carol\n");
        hba = Hba.load(conf.resolve("hba.conf"));
    }

    /** The 1-based line number of a rule, by its start. */
    private static int line(String start) {
        for (int i = 0; i < LINES.size(); i++) {
            if (LINES.get(i).startsWith(start)) {
                return i + 1;
            }
        }
        throw new IllegalArgumentException("no line starts with " + start);
    }

    private static InetAddress ip(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** Columns: connection kind, database, user, address ("unix" = Unix socket), tls, expected line start or null. */
    static Stream<Arguments> table() {
        ConnectionKind n = ConnectionKind.NORMAL;
        ConnectionKind phys = ConnectionKind.PHYSICAL_REPLICATION;
        ConnectionKind logical = ConnectionKind.LOGICAL_REPLICATION;
        String catchAll = "host    all             all         all";
        return Stream.of(
                // local rules apply to the Unix socket only; host rules never do.
                Arguments.of(n, "app", "admin", "unix", false, "local   all             admin"),
                Arguments.of(n, "alice", "alice", "unix", false, "local   sameuser"),
                Arguments.of(n, "app", "alice", "unix", false, null),
                Arguments.of(n, "app", "admin", "127.0.0.1", false, catchAll),
                // replication: only the keyword matches physical replication, and `all` does not.
                Arguments.of(phys, "repl", "repl", "10.0.0.5", false, "host    replication"),
                Arguments.of(phys, "app", "other", "10.0.0.5", false, null),
                Arguments.of(n, "replication", "repl", "10.0.0.5", false, catchAll),
                Arguments.of(logical, "app", "repl", "10.0.0.5", false, catchAll),
                // Quoted names keep case, spaces, commas and doubled quotes.
                Arguments.of(n, "Quoted Db", "Mixed User", "10.1.2.3", false, "host    \"Quoted Db\""),
                Arguments.of(n, "x,y", "say \"hi\"", "10.1.2.3", false, "host    \"Quoted Db\""),
                Arguments.of(n, "quoted db", "Mixed User", "10.1.2.3", false, catchAll),
                Arguments.of(n, "x", "Mixed User", "10.1.2.3", false, catchAll),
                // Address and mask columns; hostssl and hostnossl by the TLS flag.
                Arguments.of(n, "app", "u", "10.2.3.4", true, "hostssl"),
                Arguments.of(n, "app", "u", "10.2.3.4", false, "hostnossl"),
                Arguments.of(n, "app", "u", "10.7.3.4", true, catchAll),
                // @files: comments, blank lines, comma and whitespace lists, nested relative includes.
                Arguments.of(n, "sales", "alice", "192.168.0.7", false, "host    @dbs.txt"),
                Arguments.of(n, "Q Db", "carol", "192.168.0.255", false, "host    @dbs.txt"),
                Arguments.of(n, "hr", "alice", "192.168.0.1", false, "host    @dbs.txt"),
                Arguments.of(n, "ops", "alice", "192.168.0.1", false, "host    @dbs.txt"),
                Arguments.of(n, "sales", "dave", "192.168.0.7", false, catchAll),
                Arguments.of(n, "databases", "alice", "192.168.0.7", false, catchAll),
                Arguments.of(n, "sales", "alice", "192.168.1.7", false, catchAll),
                // IPv6 CIDR; an IPv6 client never matches an IPv4 rule.
                Arguments.of(n, "app", "u", "2001:db8:1::5", false, "host    all             all         2001:db8"),
                Arguments.of(n, "app", "u", "2001:db9::1", false, catchAll),
                Arguments.of(n, "app", "u", "::1", false, "host    all             all         ::1/128"),
                Arguments.of(n, "app", "u", "::a03:1", false, catchAll),
                // First match wins: bob's reject comes before the /16 md5.
                Arguments.of(n, "app", "bob", "10.3.0.1", false, "host    all             bob"),
                Arguments.of(n, "app", "bob", "10.3.0.2", false, "host    all             all         10.3.0.0/16"),
                Arguments.of(n, "app", "alice", "10.3.0.1", false, "host    all             all         10.3.0.0/16"),
                // 10.5.0.0/15 has a bit outside its mask: PgBouncer keeps the rule, which then never matches.
                Arguments.of(n, "app", "u", "10.5.0.1", false, catchAll),
                Arguments.of(n, "app", "u", "10.4.0.1", false, catchAll),
                // A quoted "all" is a database named all; the keyword still matches everything; a, b and c listed.
                Arguments.of(n, "app", "c", "10.6.0.1", false, "host    all,\"all\""),
                Arguments.of(n, "app", "d", "10.6.0.1", false, catchAll),
                // Every bad line is skipped: 10.9/16 falls through to the catch-all.
                Arguments.of(n, "app", "u", "10.9.1.1", false, catchAll),
                Arguments.of(n, "app", "u", "10.9.1.1", true, catchAll));
    }

    @ParameterizedTest(name = "{0} db={1} user={2} from {3} tls={4}")
    @MethodSource("table")
    void firstMatchingRuleWins(ConnectionKind kind, String db, String user, String from, boolean tls,
                               String expected) {
        Hba.Rule rule = hba.match(kind, db, user, from.equals("unix") ? null : ip(from), tls);
        if (expected == null) {
            assertNull(rule, () -> "expected no rule, got line " + rule.line());
        } else {
            assertNotNull(rule, "expected line " + line(expected) + ", got no rule");
            assertEquals(line(expected), rule.line(), () -> "matched " + LINES.get(rule.line() - 1));
        }
    }

    @Test
    void methodsAreTheOnesOnTheMatchedLines() {
        assertEquals(Hba.Method.PEER, hba.match(ConnectionKind.NORMAL, "a", "admin", null, false).method());
        assertEquals(Hba.Method.SCRAM_SHA_256,
                hba.match(ConnectionKind.PHYSICAL_REPLICATION, "x", "repl", ip("10.0.0.1"), false).method());
        assertEquals(Hba.Method.PASSWORD, hba.match(ConnectionKind.NORMAL, "x,y", "Mixed User", ip("10.1.0.1"),
                false).method());
        assertEquals(Hba.Method.CERT, hba.match(ConnectionKind.NORMAL, "a", "u", ip("10.2.0.1"), true).method());
        assertEquals(Hba.Method.TRUST, hba.match(ConnectionKind.NORMAL, "a", "u", ip("::1"), false).method());
        assertEquals(Hba.Method.REJECT, hba.match(ConnectionKind.NORMAL, "a", "bob", ip("10.3.0.1"), false).method());
        assertEquals(Hba.Method.MD5, hba.match(ConnectionKind.NORMAL, "a", "u", ip("10.3.0.9"), false).method());
        assertNull(hba.match(ConnectionKind.NORMAL, "a", "u", ip("10.3.0.9"), false).map());
    }

    @Test
    void eachBadLineIsSkippedWithAWarningNamingFileAndLine() {
        TreeSet<Integer> warned = new TreeSet<>();
        Path file = dir.resolve("conf/hba.conf");
        for (String w : hba.warnings()) {
            assertTrue(w.startsWith(file + ":"), w);
            warned.add(Integer.parseInt(w.substring(file.toString().length() + 1, w.indexOf(':',
                    file.toString().length() + 1))));
        }
        TreeSet<Integer> expected = new TreeSet<>();
        for (int i = line("hostgssenc"); i < line("host    all             all         all"); i++) {
            expected.add(i);
        }
        expected.add(line("host    all             all         10.5.0.0/15"));
        assertEquals(expected, warned, () -> String.join("\n", hba.warnings()));
        String all = String.join("\n", hba.warnings());
        assertTrue(all.contains(":" + line("hostgssenc") + ": unknown connection type \"hostgssenc\"; line skipped"),
                all);
        assertTrue(all.contains("invalid IP address \"db.example.com\""), all);
        assertTrue(all.contains("unsupported authentication method \"pam\""), all);
        assertTrue(all.contains("samerole is not supported"), all);
        assertTrue(all.contains("map=ops needs an auth_ident_file"), all);
        assertTrue(all.contains("could not read @missing.txt"), all);
        assertTrue(all.contains(":" + line("host    all             all         10.5.0.0/15")
                + ": address 10.5.0.0 has bits outside its mask; the rule never matches"), all);
    }

    @Test
    void peerRulesUseTheIdentMapAndThePasswdFile() throws Exception {
        Path ident = Files.writeString(dir.resolve("ident.conf"), """
                # MAP  SYSTEM-USER  DATABASE-USER
                ops    root         postgres
                ops    "deploy"     all
                ops    root         pgsvc_md5 extra
                web    www-data     app
                """);
        Path passwd = Files.writeString(dir.resolve("passwd"), """
                root:x:0:0:root:/root:/bin/bash
                toor:x:0:0:second name for uid 0:/root:/bin/sh
                deploy:x:1001:1001::/home/deploy:/bin/sh
                """);
        Path file = Files.writeString(dir.resolve("peer.conf"), """
                local all postgres,deploy,app peer map=ops
                local all all peer map=nope
                local all all peer
                """);
        Hba peer = Hba.load(file, ident, passwd);
        Hba.Rule mapped = peer.match(ConnectionKind.NORMAL, "db", "postgres", null, false);
        assertEquals(1, mapped.line());
        assertEquals(Hba.Method.PEER, mapped.method());
        assertEquals("ops", mapped.map().name());
        assertTrue(mapped.map().allows("root", "postgres"));
        assertFalse(mapped.map().allows("root", "pgsvc_md5"), "the line with extra words is skipped");
        assertTrue(mapped.map().allows("deploy", "anything"));
        assertFalse(mapped.map().allows("www-data", "app"), "www-data is in map web, not ops");
        Hba.Rule plain = peer.match(ConnectionKind.NORMAL, "db", "someone", null, false);
        assertEquals(3, plain.line());
        assertNull(plain.map());
        assertEquals("root", peer.osUserName(0));
        assertEquals("deploy", peer.osUserName(1001));
        assertNull(peer.osUserName(4242));
        String warnings = String.join("\n", peer.warnings());
        assertTrue(warnings.contains(ident + ":4: unsupported parameters; line skipped"), warnings);
        assertTrue(warnings.contains(file + ":2: ident map \"nope\" is not in the auth_ident_file; line skipped"),
                warnings);
        assertEquals(2, peer.warnings().size(), warnings);
    }

    @Test
    void anUnreadableFileIsALoadErrorNamingIt() {
        Path missing = dir.resolve("no-such-hba.conf");
        ConfigException e = assertThrows(ConfigException.class, () -> Hba.load(missing));
        assertEquals(missing + ": could not open auth_hba_file: no such file", e.getMessage());
        ConfigException i = assertThrows(ConfigException.class,
                () -> Hba.load(dir.resolve("conf/hba.conf"), dir.resolve("no-such-ident.conf")));
        assertTrue(i.getMessage().startsWith(dir.resolve("no-such-ident.conf") + ": could not open auth_ident_file"),
                i.getMessage());
    }

    @Test
    void anIncludeLoopSkipsTheLine() throws IOException, ConfigException {
        Files.writeString(dir.resolve("loop-a.txt"), "x\n@loop-b.txt\n");
        Files.writeString(dir.resolve("loop-b.txt"), "y\n@loop-a.txt\n");
        Path file = Files.writeString(dir.resolve("loop.conf"), "host @loop-a.txt all all trust\n");
        Hba loop = Hba.load(file);
        assertNull(loop.match(ConnectionKind.NORMAL, "x", "u", ip("10.0.0.1"), false));
        assertEquals(1, loop.warnings().size(), loop.warnings().toString());
        assertTrue(loop.warnings().get(0).contains("include loop"), loop.warnings().get(0));
    }

    @Test
    void addressesParseAsInetPtonDoes() {
        assertArrayEquals(new byte[] {10, 0, 0, 1}, Hba.parseAddress("10.0.0.1"));
        assertArrayEquals(new byte[] {(byte) 255, (byte) 255, (byte) 255, 0}, Hba.parseAddress("255.255.255.0"));
        assertArrayEquals(ip("2001:db8::1").getAddress(), Hba.parseAddress("2001:db8::1"));
        assertArrayEquals(new byte[16], Hba.parseAddress("::"));
        assertArrayEquals(ip("1:2:3:4:5:6:7:0").getAddress(), Hba.parseAddress("1:2:3:4:5:6:7::"));
        byte[] compat = new byte[16];
        compat[12] = 1;
        compat[13] = 2;
        compat[14] = 3;
        compat[15] = 4;
        assertArrayEquals(compat, Hba.parseAddress("::1.2.3.4"));
        byte[] mapped = compat.clone();
        mapped[10] = (byte) 0xff;
        mapped[11] = (byte) 0xff;
        assertArrayEquals(mapped, Hba.parseAddress("::ffff:1.2.3.4"));
        List<String> bad = new ArrayList<>(List.of("01.2.3.4", "1.2.3", "256.1.1.1", "1.2.3.4.5", "1::2::3",
                ":1::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "fe80::1%eth0", "[::1]", "12345::", "1.2.3.4::",
                "localhost", "", "g::"));
        for (String s : bad) {
            assertNull(Hba.parseAddress(s), s);
        }
    }
}
