"""The leaves: small modules every layer may use; they import no other layer of chaosrun."""
