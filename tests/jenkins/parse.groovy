// Parse every file named on the command line to Groovy's CLASS_GENERATION phase (bytecode made, constant sizes checked), in one JVM.
// Prints "FAIL <file>: <message>" for each that does not parse; exits 1 if any failed.
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases

int failures = 0
for (String path : args) {
    def unit = new CompilationUnit()
    unit.addSource(new File(path))
    try {
        unit.compile(Phases.CLASS_GENERATION)
    } catch (Exception e) {
        failures++
        println "FAIL ${path}: ${e.message.readLines().take(3).join(' ')}"
    }
}
println "parsed ${args.length - failures}/${args.length}"
System.exit(failures ? 1 : 0)
