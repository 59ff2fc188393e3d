package pgsvc.pooler.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IniParserTest {
    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text);
        return p;
    }

    /** Key/value entries only, as "section/key=value@line". */
    private static List<String> pairs(List<IniParser.Entry> entries) {
        return entries.stream()
                .filter(e -> !e.isSectionStart())
                .map(e -> e.section() + "/" + e.key() + "=" + e.value() + "@" + e.line())
                .collect(Collectors.toList());
    }

    @Test
    void commentsOnlyAtLineStartAndSemicolonBelongsToValue() throws Exception {
        Path f = write("a.ini", String.join("\n",
                "; a comment",
                "   # an indented comment",
                "[pgbouncer]",
                "logfile = /var/log/pgb.log ; not a comment",
                "auth_query=SELECT 1 # still the value   ",
                "",
                "\tpidfile\t=\t/run/pgb.pid\r",
                "admin_users ="));
        List<IniParser.Entry> entries = IniParser.parse(f);
        assertEquals(List.of(
                "pgbouncer/logfile=/var/log/pgb.log ; not a comment@4",
                "pgbouncer/auth_query=SELECT 1 # still the value@5",
                "pgbouncer/pidfile=/run/pgb.pid@7",
                "pgbouncer/admin_users=@8"), pairs(entries));
        assertTrue(entries.get(0).isSectionStart());
        assertEquals(3, entries.get(0).line());
        assertEquals(f, entries.get(1).file());
    }

    @Test
    void quotedAndPunctuatedKeys() throws Exception {
        Path f = write("a.ini", "[databases]\n'my db; x' = host=a\nfoo.bar-baz_1 = host=b\n* = host=c\n");
        assertEquals(List.of("databases/my db; x=host=a@2", "databases/foo.bar-baz_1=host=b@3",
                "databases/*=host=c@4"), pairs(IniParser.parse(f)));
    }

    @Test
    void sectionHeaderMayBeFollowedByAnEntryOnTheSameLineAsInPgBouncer() throws Exception {
        Path f = write("a.ini", "[pgbouncer] listen_port = 7000\n[users] ; comment after header\n");
        List<IniParser.Entry> entries = IniParser.parse(f);
        assertEquals(List.of("pgbouncer/listen_port=7000@1"), pairs(entries));
        assertEquals("users", entries.get(entries.size() - 1).section());
    }

    @Test
    void unknownSectionFailsWithFileAndLine() throws Exception {
        Path f = write("a.ini", "[pgbouncer]\n\n[database]\n");
        ConfigException e = assertThrows(ConfigException.class, () -> IniParser.parse(f));
        assertEquals(f + ":3: unknown section: database", e.getMessage());
        assertEquals(3, e.line());
    }

    @Test
    void routerSectionsAreKnown() throws Exception {
        Path f = write("a.ini", "[hosts]\nh1 = host=a\n[services]\nrw = port=5433 role=primary\n[router]\nrise = 2\n");
        assertEquals(List.of("hosts/h1=host=a@2", "services/rw=port=5433 role=primary@4", "router/rise=2@6"),
                pairs(IniParser.parse(f)));
        Path g = write("b.ini", "[pgbouncer]\n[Hosts]\n");
        assertEquals(g + ":2: unknown section: Hosts",
                assertThrows(ConfigException.class, () -> IniParser.parse(g)).getMessage());
    }

    @Test
    void sectionNamesAreCaseSensitive() throws Exception {
        Path f = write("a.ini", "[PgBouncer]\n");
        ConfigException e = assertThrows(ConfigException.class, () -> IniParser.parse(f));
        assertEquals(f + ":1: unknown section: PgBouncer", e.getMessage());
    }

    @Test
    void missingEqualsIsASyntaxError() throws Exception {
        Path f = write("a.ini", "[pgbouncer]\nlisten_port 6432\n");
        ConfigException e = assertThrows(ConfigException.class, () -> IniParser.parse(f));
        assertEquals(f + ":2: syntax error: expected \"=\" after \"listen_port\", found \"6\"", e.getMessage());
    }

    @Test
    void doubleQuotedKeyIsASyntaxError() throws Exception {
        Path f = write("a.ini", "[databases]\n\"my db\" = host=a\n");
        ConfigException e = assertThrows(ConfigException.class, () -> IniParser.parse(f));
        assertEquals(f + ":2: syntax error: expected a key, found \"\"\"", e.getMessage());
    }

    @Test
    void unterminatedSectionAndQuotedKey() throws Exception {
        Path a = write("a.ini", "[pgbouncer\nx=1\n");
        assertEquals(a + ":1: syntax error: section header without closing \"]\"",
                assertThrows(ConfigException.class, () -> IniParser.parse(a)).getMessage());
        Path b = write("b.ini", "[databases]\n'abc = host=x\n");
        assertEquals(b + ":2: syntax error: unterminated quoted key",
                assertThrows(ConfigException.class, () -> IniParser.parse(b)).getMessage());
    }

    @Test
    void valueBeforeAnySectionIsRefused() throws Exception {
        Path f = write("a.ini", "listen_port = 1\n[pgbouncer]\n");
        assertEquals(f + ":1: value without section: listen_port",
                assertThrows(ConfigException.class, () -> IniParser.parse(f)).getMessage());
    }

    @Test
    void includeInsideSectionContinuesThatSectionAndSectionsCarryBack() throws Exception {
        Path dbs = write("database.txt", "# generated\nmeta = host=/var/run/postgresql\n[pgbouncer]\n");
        Path main = write("main.ini", "[databases]\n%include " + dbs + "\nlisten_port = 7432\n");
        List<IniParser.Entry> entries = IniParser.parse(main);
        assertEquals(List.of("databases/meta=host=/var/run/postgresql@2", "pgbouncer/listen_port=7432@3"),
                pairs(entries));
        IniParser.Entry meta = entries.stream().filter(e -> "meta".equals(e.key())).findFirst().orElseThrow();
        assertEquals(dbs, meta.file());
    }

    @Test
    void relativeIncludeResolvesAgainstWorkingDirectoryNotIncludingFile() throws Exception {
        Path sub = Files.createDirectories(dir.resolve("sub"));
        Path target = sub.resolve("users.txt");
        Files.writeString(target, "alice = pool_mode=session\n");
        Path cwd = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        Path relative = cwd.relativize(target.toAbsolutePath());
        assertFalse(relative.isAbsolute());
        Path main = Files.writeString(sub.resolve("main.ini"), "[users]\n%include " + relative + "\n");
        assertEquals(List.of("users/alice=pool_mode=session@1"), pairs(IniParser.parse(main)));

        // The same name relative to the including file's directory would be "users.txt": that must not be found,
        // because PgBouncer resolves against its working directory.
        Path other = Files.writeString(sub.resolve("other.ini"), "[users]\n%include users.txt\n");
        ConfigException e = assertThrows(ConfigException.class, () -> IniParser.parse(other));
        assertEquals(2, e.line());
        assertTrue(e.getMessage().contains("could not load file"), e.getMessage());
    }

    @Test
    void tenNestedIncludesLoadAndAnEleventhFails() throws Exception {
        for (int depth = 10; depth >= 1; depth--) {
            String body = depth == 10 ? "deepest = 1\n" : "%include " + dir.resolve("inc" + (depth + 1)) + "\n";
            write("inc" + depth, body);
        }
        Path main = write("main.ini", "[users]\n%include " + dir.resolve("inc1") + "\n");
        List<IniParser.Entry> entries = IniParser.parse(main);
        assertEquals(List.of("users/deepest=1@1"), pairs(entries));
        assertEquals(dir.resolve("inc10"), entries.get(1).file());

        write("inc10", "%include " + dir.resolve("inc11") + "\n");
        write("inc11", "tooDeep = 1\n");
        ConfigException e = assertThrows(ConfigException.class, () -> IniParser.parse(main));
        assertEquals(dir.resolve("inc10"), e.file());
        assertTrue(e.getMessage().contains("include nesting level too deep"), e.getMessage());
    }

    @Test
    void includeLoopIsReportedAtTheIncludeThatClosesIt() throws Exception {
        Path a = dir.resolve("a.ini");
        Path b = write("b.ini", "x = 1\n%include " + a + "\n");
        write("a.ini", "[users]\n%include " + b + "\n");
        ConfigException e = assertThrows(ConfigException.class, () -> IniParser.parse(a));
        assertEquals(b + ":2: include loop: " + a + " is already being read", e.getMessage());
    }

    @Test
    void sameFileMayBeIncludedTwiceWhenNotNested() throws Exception {
        Path common = write("common.txt", "bob = pool_size=3\n");
        Path main = write("main.ini", "[users]\n%include " + common + "\n%include " + common + "\n");
        assertEquals(2, pairs(IniParser.parse(main)).size());
    }

    @Test
    void missingMainFileNamesTheFile() {
        Path missing = dir.resolve("nope.ini");
        ConfigException e = assertThrows(ConfigException.class, () -> IniParser.parse(missing));
        assertEquals(missing + ": could not load file \"" + missing + "\": no such file", e.getMessage());
        assertEquals(0, e.line());
    }

    @Test
    void percentIncludeWithoutBlankIsNotAnInclude() throws Exception {
        Path f = write("a.ini", "[users]\n%includefoo\n");
        ConfigException e = assertThrows(ConfigException.class, () -> IniParser.parse(f));
        assertEquals(f + ":2: syntax error: expected a key, found \"%\"", e.getMessage());
    }
}
