// Placeholder until the command line lands (issue 2).
print("resumable: the command line is being built")
