package pgsvc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The layers point down only: protocol knows nothing of ours, pooler knows protocol, router knows both. Every source
 * file sits in its root's package tree, so a class cannot slip into another layer by its package name either.
 */
class LayeringTest {
    private static final Pattern REFERENCE = Pattern.compile("\\bpgsvc\\.(protocol|pooler|router)\\b");

    @Test
    void protocolDependsOnNothingOfOurs() throws IOException {
        assertEquals(List.of(), violations("protocol", List.of("protocol")));
    }

    @Test
    void poolerDependsOnlyOnProtocol() throws IOException {
        assertEquals(List.of(), violations("pooler", List.of("protocol", "pooler")));
    }

    @Test
    void routerMayUseBothLayersBelow() throws IOException {
        assertEquals(List.of(), violations("router", List.of("protocol", "pooler", "router")));
    }

    @Test
    void theCheckSeesAViolation() {
        Matcher m = REFERENCE.matcher("import pgsvc.router.Main;");
        assertTrue(m.find());
        assertEquals("router", m.group(1));
    }

    private static List<String> violations(String root, List<String> allowed) throws IOException {
        Path dir = Path.of(root, "pgsvc", root);
        assertTrue(Files.isDirectory(dir), "source root " + dir + " exists");
        List<String> problems = new ArrayList<>();
        List<Path> files;
        try (Stream<Path> walk = Files.walk(Path.of(root))) {
            files = walk.filter(p -> p.toString().endsWith(".java")).toList();
        }
        assertTrue(!files.isEmpty(), root + " has sources");
        for (Path file : files) {
            if (!file.startsWith(dir)) {
                problems.add(file + ": outside package pgsvc." + root);
            }
            int lineNo = 0;
            for (String line : Files.readAllLines(file)) {
                lineNo++;
                Matcher m = REFERENCE.matcher(line);
                while (m.find()) {
                    if (!allowed.contains(m.group(1))) {
                        problems.add(file + ":" + lineNo + ": uses pgsvc." + m.group(1));
                    }
                }
            }
        }
        return problems;
    }
}
