"""A message's reactions grouped by emoji: what its reactions line shows and what programs read
(core/program_events.py). Its own module so both may use it without importing each other."""
from dataclasses import dataclass, field

from ..models import Reaction, User

NAMES_IN_TITLE = 10  # who reacted, on hover: this many names, then "and N others"


@dataclass
class ReactionGroup:
    """Everyone who reacted to a message with one emoji, in the order they did."""

    emoji: str
    users: list[User] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.users)

    @property
    def usernames(self) -> str:
        return " ".join(user.username for user in self.users)

    @property
    def title(self) -> str:
        """Who reacted, as a hover text: "Alice", "Alice and Bob", "Alice, Bob and 3 others"."""
        names = [user.display_name for user in self.users[:NAMES_IN_TITLE]]
        others = self.count - len(names)
        if others:
            names.append(f"{others} other{'s' if others != 1 else ''}")
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def group_reactions(reactions: list[Reaction]) -> list[ReactionGroup]:
    """A message's reactions grouped by emoji, in the order each emoji was first used."""
    groups: dict[str, ReactionGroup] = {}
    for reaction in reactions:
        groups.setdefault(reaction.emoji, ReactionGroup(reaction.emoji)).users.append(reaction.user)
    return list(groups.values())
