import { Sparkles } from "lucide-react";

export default function Page() {
  return (
    <main className="flex min-h-screen items-center justify-center bg-neutral-50">
      <div className="flex items-center gap-2 text-neutral-600">
        <Sparkles className="h-5 w-5" />
        <span>Your app will appear here.</span>
      </div>
    </main>
  );
}
