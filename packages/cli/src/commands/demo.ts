import type { Command } from "commander";

/** `iommu-sim demo`: the seed story, narrated. Grows as the layers land. */
export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("narrate the IOMMU story on a simulated machine")
    .option("--json", "print machine-readable JSON")
    .action((options: { json?: boolean }) => {
      const message =
        "The narrated demo is coming in a later release: the hardware model and IOMMU API land first.";
      process.stdout.write(
        options.json ? `${JSON.stringify({ status: "not-yet-available", message })}\n` : `${message}\n`,
      );
    });
}
